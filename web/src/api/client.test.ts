import { describe, expect, it } from "vitest";
import { ApiError, unwrap, unwrapOrNone } from "./client";

function answer<T>(status: number, body: { data?: T; error?: unknown }) {
  return Promise.resolve({ ...body, response: new Response(null, { status }) });
}

async function failure(call: Promise<unknown>): Promise<ApiError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error("the call succeeded");
}

describe("an API answer", () => {
  it("gives its data when it succeeded", async () => {
    await expect(unwrap(answer(200, { data: { id: "p1" } }))).resolves.toEqual({ id: "p1" });
  });

  it("becomes an ApiError with the code and message of its error body", async () => {
    const body = { error: { code: "CONFLICT", message: "A run is already queued or running." } };
    const error = await failure(unwrap(answer(409, { error: body })));
    expect([error.status, error.code, error.message]).toEqual([409, "CONFLICT", "A run is already queued or running."]);
  });

  it("without an error body still says what the server answered", async () => {
    const error = await failure(unwrap(answer(502, { error: "Bad Gateway" })));
    expect([error.status, error.code, error.message]).toEqual([502, "ERROR", "The server answered 502."]);
  });

  it("that never came is a network error (status 0, the one the client tries again)", async () => {
    const error = await failure(unwrap(Promise.reject(new TypeError("Failed to fetch"))));
    expect([error.status, error.code]).toEqual([0, "NETWORK"]);
    expect(error.message).toBe("The server cannot be reached. Is it running?");
  });
});

describe("an answer that may be none yet", () => {
  it("is its data, or null for a 404", async () => {
    await expect(unwrapOrNone(answer(200, { data: { status: "PUBLISHED" } }))).resolves.toEqual({ status: "PUBLISHED" });
    const notYet = { error: { code: "NOT_FOUND", message: "This project has not been published" } };
    await expect(unwrapOrNone(answer(404, { error: notYet }))).resolves.toBeNull();
  });

  it("is still an error for any other failure", async () => {
    const body = { error: { code: "SERVICE_UNAVAILABLE", message: "The database cannot be reached." } };
    const error = await failure(unwrapOrNone(answer(503, { error: body })));
    expect([error.status, error.message]).toEqual([503, "The database cannot be reached."]);
    expect((await failure(unwrapOrNone(Promise.reject(new TypeError("Failed to fetch"))))).status).toBe(0);
  });
});
