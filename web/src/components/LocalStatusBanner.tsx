import { Alert, Code } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { IconAlertTriangle } from "@tabler/icons-react";

/** The local stack says when no model is configured: every run would end in an error, so say how
 * to fix it before anyone waits for one. (Deployed, there is no /local/status.) */
export function LocalStatusBanner() {
  const status = useQuery({
    queryKey: ["local-status"],
    queryFn: async () => {
      const response = await fetch("/local/status");
      return response.ok ? ((await response.json()) as { model?: string }) : {};
    },
    staleTime: Infinity,
  });
  if (status.data?.model !== "missing") return null;
  return (
    <Alert color="orange" icon={<IconAlertTriangle />} title="No model is configured" mb="md" role="alert">
      Every run will end with an error. Stop <Code>make dev</Code>, then <Code>export ANTHROPIC_API_KEY=sk-ant-…</Code>{" "}
      (or <Code>ANTHROPIC_BASE_URL</Code> for an Anthropic-compatible server) and start it again.
    </Alert>
  );
}
