-- depends: 0007_run_events
-- Cancel: a QUEUED run ends CANCELLED at once; a RUNNING one is asked to stop through
-- "cancelRequestedAt", which its worker reads as it records events, and ends CANCELLED there.

ALTER TYPE "AgentRunStatus" ADD VALUE IF NOT EXISTS 'CANCELLED';
ALTER TABLE "AgentRun" ADD COLUMN "cancelRequestedAt" TIMESTAMP(3);
