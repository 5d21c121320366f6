import { Badge, Tooltip } from "@mantine/core";
import { useUsage } from "../api/queries";
import { whenCreditsReturn } from "../errorDisplay";

export function CreditsBadge() {
  const usage = useUsage();
  if (!usage.data) return null;
  const { remaining, limit, resetsAt } = usage.data;
  const label = remaining > 0 ? `${remaining} of ${limit} runs left` : `No runs left until ${whenCreditsReturn(resetsAt)}`;
  return (
    <Tooltip label={label}>
      <Badge color={remaining > 0 ? "violet" : "red"} variant="light" size="lg" aria-label={label}>
        {remaining}/{limit} credits
      </Badge>
    </Tooltip>
  );
}
