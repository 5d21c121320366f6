import { describe, expect, it } from "vitest";
import { components } from "../../openapi.json";
import { attach, dataUrl, IMAGE_MAX_BYTES, IMAGE_TYPES, refusal, toBase64, toInput } from "./images";

const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function file(name: string, type: string, size = PNG.length): File {
  const bytes = size === PNG.length ? PNG : new Uint8Array(size);
  return new File([bytes], name, { type });
}

describe("the images a prompt takes", () => {
  it("are the types the OpenAPI document lists", () => {
    expect([...IMAGE_TYPES].sort()).toEqual([...components.schemas.ImageInput.properties.mediaType.enum].sort());
  });

  it("refuses a type not in the list, one over 2 MiB and a fifth image", () => {
    expect(refusal({ name: "a.png", type: "image/png", size: 10 }, [])).toBeNull();
    expect(refusal({ name: "a.svg", type: "image/svg+xml", size: 10 }, [])).toBe(
      "a.svg is not a PNG, JPEG, GIF or WebP image (image/svg+xml).",
    );
    expect(refusal({ name: "big.jpg", type: "image/jpeg", size: IMAGE_MAX_BYTES + 1 }, [])).toMatch(
      /^big\.jpg is 2\.0 MB: an image may be at most 2 MB\.$/,
    );
    expect(refusal({ name: "ok.jpg", type: "image/jpeg", size: IMAGE_MAX_BYTES }, [])).toBeNull();
    const four = Array.from({ length: 4 }, () => ({ size: 1 }));
    expect(refusal({ name: "e.png", type: "image/png", size: 1 }, four)).toBe(
      "At most 4 images go with a prompt: e.png was not added.",
    );
    expect(refusal({ name: "", type: "text/plain", size: 1 }, [])).toMatch(/^The pasted image is not/);
  });

  it("refuses one that makes them over 4 MiB together", () => {
    const two = [{ size: IMAGE_MAX_BYTES }, { size: IMAGE_MAX_BYTES - 10 }];
    expect(refusal({ name: "c.png", type: "image/png", size: 10 }, two)).toBeNull();
    expect(refusal({ name: "c.png", type: "image/png", size: 11 }, two)).toMatch(/at most 4 MB\.$/);
  });

  it("are sent as their type and base64 without a data: prefix", async () => {
    const { images, refused } = await attach([], [file("a.png", "image/png"), file("b.txt", "text/plain")]);
    expect(refused).toEqual(["b.txt is not a PNG, JPEG, GIF or WebP image (text/plain)."]);
    expect(images).toEqual([{ name: "a.png", mediaType: "image/png", size: 8, data: "iVBORw0KGgo=" }]);
    expect(toInput(images)).toEqual([{ mediaType: "image/png", data: "iVBORw0KGgo=" }]);
    expect(dataUrl(images[0])).toBe("data:image/png;base64,iVBORw0KGgo=");
  });

  it("keep the ones attached before and stop at four", async () => {
    const files = Array.from({ length: 5 }, (_, n) => file(`${n}.png`, "image/png"));
    const { images, refused } = await attach([], files);
    expect(images.map((image) => image.name)).toEqual(["0.png", "1.png", "2.png", "3.png"]);
    expect(refused).toEqual(["At most 4 images go with a prompt: 4.png was not added."]);
  });

  it("encode large files whole", () => {
    const bytes = new Uint8Array(100_000).map((_, n) => n % 256);
    const decoded = Uint8Array.from(atob(toBase64(bytes)), (char) => char.charCodeAt(0));
    expect(decoded).toEqual(bytes);
  });
});
