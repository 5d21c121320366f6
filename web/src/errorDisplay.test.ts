import { describe, expect, it } from "vitest";
import { ApiError } from "./api/client";
import { describeError, whenCreditsReturn } from "./errorDisplay";

const resetsAt = "2026-03-04T05:06:07.000Z";

describe("an error shown to a person", () => {
  it("out of credits says when they come back, then the API's words", () => {
    const shown = describeError(new ApiError(429, "TOO_MANY_REQUESTS", "No credits left."), { resetsAt });
    expect(shown).toEqual({
      heading: "You have used all your credits",
      text: `They come back on ${new Date(resetsAt).toLocaleString()}. No credits left.`,
      color: "red",
    });
    expect(describeError(new ApiError(429, "TOO_MANY_REQUESTS", "No credits left.")).text).toBe(
      "They come back on soon. No credits left.",
    );
  });

  it("a run in the way is a yellow 'not right now', whatever the title", () => {
    const shown = describeError(new ApiError(409, "CONFLICT", "A run is already going."), { title: "Not sent" });
    expect(shown).toEqual({ heading: "Not right now", text: "A run is already going.", color: "yellow" });
  });

  it("no token says where to find it", () => {
    const shown = describeError(new ApiError(401, "UNAUTHORIZED", "Sign in to continue."));
    expect(shown.heading).toBe("This browser needs the local API's token");
    expect(shown.text).toContain("#token=");
    expect(shown.color).toBe("red");
  });

  it("gone is 'Not found' with the API's words", () => {
    expect(describeError(new ApiError(404, "NOT_FOUND", "Project not found"))).toEqual({
      heading: "Not found",
      text: "Project not found",
      color: "red",
    });
  });

  it("anything else keeps the caller's title (or a plain one) and says what went wrong", () => {
    const lost = new ApiError(0, "NETWORK", "The server cannot be reached. Is it running?");
    expect(describeError(lost)).toEqual({ heading: "That did not work", text: lost.message, color: "red" });
    expect(describeError(new ApiError(500, "INTERNAL_SERVER_ERROR", "Boom"), { title: "Not saved" }).heading).toBe(
      "Not saved",
    );
    expect(describeError(new TypeError("Failed to fetch")).text).toBe("Failed to fetch");
    expect(describeError("plain words").text).toBe("plain words");
    expect(describeError({ odd: true }).text).toBe("Something went wrong.");
  });

  it("credits come back at a time, or 'soon' when none is spent", () => {
    expect(whenCreditsReturn(resetsAt)).toBe(new Date(resetsAt).toLocaleString());
    expect(whenCreditsReturn(null)).toBe("soon");
    expect(whenCreditsReturn(undefined)).toBe("soon");
  });
});
