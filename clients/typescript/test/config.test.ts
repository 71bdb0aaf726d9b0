/** LEASEHOLD_URL and LEASEHOLD_API_KEY stand in for options not passed. */

import assert from "node:assert/strict";
import { afterEach, test } from "node:test";

import { Client, Unauthorized } from "leasehold";

import { rejection } from "./support/eventually.js";
import { held, serverForThisFile } from "./support/fixture.js";

const server = serverForThisFile();
const saved = { url: process.env["LEASEHOLD_URL"], key: process.env["LEASEHOLD_API_KEY"] };

afterEach(() => {
  setEnvironment(saved.url, saved.key);
});

function setEnvironment(url: string | undefined, key: string | undefined): void {
  for (const [name, value] of [["LEASEHOLD_URL", url], ["LEASEHOLD_API_KEY", key]] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
}

test("a client without options uses LEASEHOLD_URL and LEASEHOLD_API_KEY", async () => {
  setEnvironment(`${server().url}/`, server().key);

  const client = new Client();
  const lease = await held(client.lock("from-env").acquire());
  const seen = await new Client({ url: server().url, apiKey: server().key }).status("from-env");
  await lease.release();

  assert.equal(client.url, server().url);
  assert.equal(seen?.fencingToken, lease.fencingToken);
});

test("options passed win over the environment", async () => {
  setEnvironment("http://127.0.0.1:9", "lh_not_a_key");

  const lease = await held(new Client({ url: server().url, apiKey: server().key }).lock("passed").acquire());
  await lease.release();
  const refused = await rejection(new Client({ url: server().url }).lock("passed").acquire(), Unauthorized);

  assert.equal(refused.code, "unauthorized", "the key still came from the environment");
});

test("without a key anywhere the client refuses to start, naming the variable; the URL defaults", () => {
  setEnvironment(undefined, undefined);

  assert.throws(() => new Client(), { name: "TypeError", message: /LEASEHOLD_API_KEY/ });
  assert.equal(new Client({ apiKey: "k" }).url, "http://127.0.0.1:7010");
  assert.throws(() => new Client({ url: "127.0.0.1:7010", apiKey: "k" }), /http:\/\//);
});
