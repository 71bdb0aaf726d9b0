/**
 * Starts the real server (`leasehold dev`) on a fresh database, as the Python
 * client's tests do. The PostgreSQL server is DATABASE_URL's, or else
 * postgres://postgres@127.0.0.1:5432/postgres; the binary is LEASEHOLD_BIN,
 * or else ../../target/debug/leasehold from the package (`cargo build` it first).
 */

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, constants } from "node:fs";
import { createServer } from "node:net";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const PACKAGE = fileURLToPath(new URL("../../../", import.meta.url)); // from build/test/support
const POSTGRES = process.env["DATABASE_URL"] ?? "postgres://postgres@127.0.0.1:5432/postgres";

export interface TestServer {
  url: string;
  key: string;
  /** Runs SQL on the server's database (to make a lease lapse, say); returns its output. */
  sql(statement: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startServer(): Promise<TestServer> {
  const database = `lh_nodetest_${process.pid}_${randomBytes(4).toString("hex")}`;
  await psql(POSTGRES, `CREATE DATABASE "${database}"`);
  const databaseUrl = withDatabase(POSTGRES, database);
  const port = await freePort();
  const child = spawn(binary(), ["dev", "--listen", `127.0.0.1:${port}`], {
    env: { ...serverEnvironment(), DATABASE_URL: databaseUrl },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stop = async (): Promise<void> => {
    await terminate(child);
    await psql(POSTGRES, `DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  };
  try {
    const key = await clientKeyOf(child);
    const url = `http://127.0.0.1:${port}`;
    await readyAt(url);
    return { url, key, sql: (statement) => psql(databaseUrl, statement), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

function binary(): string {
  const path = process.env["LEASEHOLD_BIN"] ?? resolve(PACKAGE, "../../target/debug/leasehold");
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`no leasehold binary at ${path}: run \`cargo build\` first (or set LEASEHOLD_BIN)`);
  }
  return path;
}

/** This process's environment without LEASEHOLD_*: the server takes its settings from the command line. */
function serverEnvironment(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("LEASEHOLD_")));
}

async function psql(url: string, statement: string): Promise<string> {
  const { stdout } = await run("psql", [url, "-v", "ON_ERROR_STOP=1", "-qAtc", statement]);
  return stdout.trim();
}

function withDatabase(url: string, database: string): string {
  const [base = url, query] = url.split("?", 2);
  const server = base.slice(0, base.lastIndexOf("/"));
  return `${server}/${database}${query === undefined ? "" : `?${query}`}`;
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const listener = createServer().listen(0, "127.0.0.1", () => {
      const address = listener.address();
      listener.close(() => (typeof address === "object" && address ? done(address.port) : fail(new Error("no port"))));
    });
  });
}

function clientKeyOf(child: ChildProcess): Promise<string> {
  return new Promise((done, fail) => {
    let output = "";
    const timer = setTimeout(() => fail(new Error(`leasehold dev printed no client key within 60 s:\n${output}`)), 60_000);
    const read = (chunk: Buffer): void => {
      output += chunk.toString();
      const found = /client key: (\S+)/.exec(output);
      if (found?.[1] === undefined) return;
      clearTimeout(timer);
      done(found[1]);
    };
    child.stdout?.on("data", read);
    child.stderr?.on("data", read);
    child.once("exit", (code) => fail(new Error(`leasehold dev exited (${code}):\n${output}`)));
  });
}

async function readyAt(url: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) })).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the server at ${url} did not become ready`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((done) => child.once("exit", done));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}
