/**
 * Reading the server's JSON: each reader checks the type it expects, so a
 * body of another shape fails at once with {@link UnexpectedResponse}.
 */

import { UnexpectedResponse } from "./errors.js";

export type JsonObject = Readonly<Record<string, unknown>>;

export function unreadable(what: string): UnexpectedResponse {
  return new UnexpectedResponse({ code: "unreadable_answer", message: `unreadable answer from the server: ${what}` });
}

export function parseObject(text: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw unreadable(`not JSON: ${text.slice(0, 200)}`);
  }
  return asObject(value, "the body");
}

export function asObject(value: unknown, what: string): JsonObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw unreadable(`${what} is not an object`);
  }
  return value as JsonObject;
}

export function string(object: JsonObject, key: string): string {
  const value = object[key];
  if (typeof value !== "string") throw unreadable(`"${key}" is not a string`);
  return value;
}

export function optionalString(object: JsonObject, key: string): string | undefined {
  const value = object[key];
  return value === undefined || value === null ? undefined : string(object, key);
}

export function number(object: JsonObject, key: string): number {
  const value = object[key];
  if (typeof value !== "number" || !Number.isFinite(value)) throw unreadable(`"${key}" is not a number`);
  return value;
}

export function optionalNumber(object: JsonObject, key: string): number | undefined {
  const value = object[key];
  return value === undefined || value === null ? undefined : number(object, key);
}

/** An RFC 3339 timestamp (the server writes microseconds; a Date keeps milliseconds). */
export function date(object: JsonObject, key: string): Date {
  const parsed = new Date(string(object, key));
  if (Number.isNaN(parsed.getTime())) throw unreadable(`"${key}" is not a timestamp`);
  return parsed;
}

export function optionalDate(object: JsonObject, key: string): Date | undefined {
  const value = object[key];
  return value === undefined || value === null ? undefined : date(object, key);
}

export function array(object: JsonObject, key: string): readonly unknown[] {
  const value = object[key];
  if (!Array.isArray(value)) throw unreadable(`"${key}" is not an array`);
  return value;
}

export function optionalObject(object: JsonObject, key: string): JsonObject | undefined {
  const value = object[key];
  return value === undefined || value === null ? undefined : asObject(value, `"${key}"`);
}
