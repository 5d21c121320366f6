import type { components } from "./api/schema";

export type ImageInput = components["schemas"]["ImageInput"];
export type ImageType = ImageInput["mediaType"];

/** What the API takes with a prompt (README "Images with a prompt"); it checks them again. */
export const IMAGE_TYPES: readonly ImageType[] = ["image/png", "image/jpeg", "image/gif", "image/webp"];
export const IMAGES_MAX_COUNT = 4;
export const IMAGE_MAX_BYTES = 2 * 1024 * 1024;
export const IMAGES_MAX_TOTAL_BYTES = 4 * 1024 * 1024;
/** For a file input's accept attribute. */
export const IMAGE_ACCEPT = IMAGE_TYPES.join(",");

/** An image attached to the prompt box, before it is sent. */
export interface AttachedImage {
  name: string;
  mediaType: ImageType;
  size: number;
  data: string; // base64, without the data: prefix
}

export function isImageType(type: string): type is ImageType {
  return (IMAGE_TYPES as readonly string[]).includes(type);
}

function megabytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** Why a file cannot join the images already attached, or null when it can. */
export function refusal(file: { name: string; type: string; size: number }, attached: readonly { size: number }[]): string | null {
  const name = file.name || "The pasted image";
  if (attached.length >= IMAGES_MAX_COUNT) return `At most ${IMAGES_MAX_COUNT} images go with a prompt: ${name} was not added.`;
  if (!isImageType(file.type))
    return `${name} is not a PNG, JPEG, GIF or WebP image${file.type ? ` (${file.type})` : ""}.`;
  if (file.size > IMAGE_MAX_BYTES) return `${name} is ${megabytes(file.size)}: an image may be at most 2 MB.`;
  const total = attached.reduce((sum, image) => sum + image.size, 0) + file.size;
  if (total > IMAGES_MAX_TOTAL_BYTES) return `${name} would make the images ${megabytes(total)} together: at most 4 MB.`;
  return null;
}

/** Base64 of the bytes (no data: prefix). */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  const chunk = 0x8000;
  for (let start = 0; start < bytes.length; start += chunk) {
    binary += String.fromCharCode(...bytes.subarray(start, start + chunk));
  }
  return btoa(binary);
}

/** The file as the API takes it; call refusal() first (the type must be one of IMAGE_TYPES). */
export async function readImage(file: File): Promise<AttachedImage> {
  if (!isImageType(file.type)) throw new Error(`${file.name} is not an image the API takes`);
  const bytes = new Uint8Array(await file.arrayBuffer());
  return { name: file.name || "pasted image", mediaType: file.type, size: bytes.length, data: toBase64(bytes) };
}

/** Adds the files that fit to those attached: the images now attached and why any were refused. */
export async function attach(
  attached: readonly AttachedImage[],
  files: readonly File[],
): Promise<{ images: AttachedImage[]; refused: string[] }> {
  const images = [...attached];
  const refused: string[] = [];
  for (const file of files) {
    const why = refusal(file, images);
    if (why) refused.push(why);
    else images.push(await readImage(file));
  }
  return { images, refused };
}

/** What the API is sent: only the type and the bytes. */
export function toInput(images: readonly AttachedImage[]): ImageInput[] {
  return images.map(({ mediaType, data }) => ({ mediaType, data }));
}

/** The image's data: URL, for a thumbnail of an attached image. */
export function dataUrl(image: Pick<AttachedImage, "mediaType" | "data">): string {
  return `data:${image.mediaType};base64,${image.data}`;
}
