"""Lambda handler for agent runs (SQS). Placeholder until the agent worker lands."""
