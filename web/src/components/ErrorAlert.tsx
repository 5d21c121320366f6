import { Alert } from "@mantine/core";
import { IconAlertTriangle } from "@tabler/icons-react";
import { useUsage } from "../api/queries";
import { describeError } from "../errorDisplay";

/** An error shown as describeError words it (out of credits, a run in the way, gone, or other). */
export function ErrorAlert({ error, title }: { error: unknown; title?: string }) {
  const usage = useUsage();
  if (!error) return null;
  const { heading, text, color } = describeError(error, { title, resetsAt: usage.data?.resetsAt });
  return (
    <Alert color={color} title={heading} icon={<IconAlertTriangle />} role="alert">
      {text}
    </Alert>
  );
}
