import { Alert } from "@mantine/core";
import { IconAlertTriangle } from "@tabler/icons-react";
import { ApiError } from "../api/client";
import { useUsage } from "../api/queries";

export function whenCreditsReturn(resetsAt: string | null | undefined): string {
  return resetsAt ? new Date(resetsAt).toLocaleString() : "soon";
}

/** An API error in words a person can act on: out of credits, a run in the way, gone, or other. */
export function ErrorAlert({ error, title }: { error: unknown; title?: string }) {
  const usage = useUsage();
  if (!error) return null;
  const apiError = error instanceof ApiError ? error : null;
  let heading = title ?? "That did not work";
  let text = apiError?.message ?? String(error);
  if (apiError?.status === 429) {
    heading = "You have used all your credits";
    text = `They come back on ${whenCreditsReturn(usage.data?.resetsAt)}. ${apiError.message}`;
  } else if (apiError?.status === 409) {
    heading = "Not right now";
  } else if (apiError?.status === 401) {
    heading = "This browser needs the local API's token";
    text = "Open the web client's address that make dev printed (it ends in #token=…); this browser keeps it.";
  } else if (apiError?.status === 404) {
    heading = "Not found";
  }
  return (
    <Alert color={apiError?.status === 409 ? "yellow" : "red"} title={heading} icon={<IconAlertTriangle />} role="alert">
      {text}
    </Alert>
  );
}
