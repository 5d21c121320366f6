import createClient, { type Client } from "openapi-fetch";
import type { Session } from "../auth";
import type { components, paths } from "./schema";

export type Project = components["schemas"]["Project"];
export type Message = components["schemas"]["Message"];
export type MessageMode = Message["mode"];
export type FragmentSummary = components["schemas"]["FragmentSummary"];
export type Fragment = components["schemas"]["Fragment"];
export type Run = components["schemas"]["Run"];
export type RunStatus = Run["status"];
export type RunUsage = components["schemas"]["RunUsage"];
/** One of the run's events: a union on `kind`, each kind with its own `data`. */
export type RunEvent = components["schemas"]["RunEvent"];
export type CommandStartedData = components["schemas"]["CommandStartedData"];
export type PreviewState = components["schemas"]["PreviewState"];
export type Usage = components["schemas"]["Usage"];
export type VersionDiff = components["schemas"]["VersionDiff"];
export type FileDiff = components["schemas"]["FileDiff"];
export type FileStatus = FileDiff["status"];
export type Site = components["schemas"]["Site"];
export type SiteStatus = Site["status"];
export type GitPush = components["schemas"]["GitPush"];
export type GitPushStatus = GitPush["status"];
export type GitPushInput = components["schemas"]["GitPushInput"];
export type SelectionInput = components["schemas"]["Selection"];

/** The HTTP statuses the OpenAPI document gives any operation (200 … 503): what the client may be
 * answered, so that what it says of a status is checked against the document. */
type Operation = { [P in keyof paths]: paths[P][Exclude<keyof paths[P], "parameters">] }[keyof paths];
export type AnswerStatus = Operation extends infer O ? (O extends { responses: infer R } ? keyof R : never) : never;

/** An error answer of the API ({"error": {code, message}}), or no answer at all (status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let client: Client<paths> | null = null;

/** The typed client of the API (types from openapi.json), sending the session's credentials. */
export function connectApi(apiUrl: string, session: Session): void {
  client = createClient<paths>({ baseUrl: apiUrl });
  client.use({
    async onRequest({ request }) {
      for (const [name, value] of Object.entries(await session.headers())) request.headers.set(name, value);
      return request;
    },
  });
}

export function api(): Client<paths> {
  if (!client) throw new Error("connectApi() first");
  return client;
}

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The data of a successful answer; ApiError otherwise. */
export async function unwrap<T>(call: Promise<Answer<T>>): Promise<T> {
  let answer: Answer<T>;
  try {
    answer = await call;
  } catch {
    throw new ApiError(0, "NETWORK", "The server cannot be reached. Is it running?");
  }
  if (answer.response.ok) return answer.data as T;
  const detail = (answer.error as { error?: { code?: string; message?: string } } | undefined)?.error;
  throw new ApiError(
    answer.response.status,
    detail?.code ?? "ERROR",
    detail?.message ?? `The server answered ${answer.response.status}.`,
  );
}

/** The data of a successful answer, or null when the API answers 404 for something that does not
 * exist yet (a project's site before its first publish, its last push before the first); ApiError
 * otherwise. */
export async function unwrapOrNone<T>(call: Promise<Answer<T>>): Promise<T | null> {
  try {
    return await unwrap(call);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}
