-- depends: 0002_owner_indexes_timestamps
-- One row per USER message that asked for an agent run: its state machine, lease and cost.

CREATE TYPE "AgentRunStatus" AS ENUM ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED');

CREATE TABLE "AgentRun" (
    "id" TEXT NOT NULL,
    "projectId" TEXT NOT NULL,
    "messageId" TEXT NOT NULL,
    "status" "AgentRunStatus" NOT NULL DEFAULT 'QUEUED',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "leaseExpiresAt" TIMESTAMP(3),
    "error" TEXT,
    "replyMessageId" TEXT,
    "inputTokens" INTEGER NOT NULL DEFAULT 0,
    "outputTokens" INTEGER NOT NULL DEFAULT 0,
    "cacheReadTokens" INTEGER NOT NULL DEFAULT 0,
    "cacheWriteTokens" INTEGER NOT NULL DEFAULT 0,
    "modelTurns" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "AgentRun_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "AgentRun_attempts_check" CHECK ("attempts" >= 0)
);

-- A message asks for at most one run, and the agent finds the run by its message.
CREATE UNIQUE INDEX "AgentRun_messageId_key" ON "AgentRun"("messageId");
-- One unfinished run per project: the database, not a read-then-write, answers 409 CONFLICT.
CREATE UNIQUE INDEX "AgentRun_projectId_active_key" ON "AgentRun"("projectId")
    WHERE "status" IN ('QUEUED', 'RUNNING');
CREATE INDEX "AgentRun_replyMessageId_idx" ON "AgentRun"("replyMessageId");

ALTER TABLE "AgentRun" ADD CONSTRAINT "AgentRun_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "AgentRun" ADD CONSTRAINT "AgentRun_messageId_fkey" FOREIGN KEY ("messageId") REFERENCES "Message"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "AgentRun" ADD CONSTRAINT "AgentRun_replyMessageId_fkey" FOREIGN KEY ("replyMessageId") REFERENCES "Message"("id") ON DELETE SET NULL ON UPDATE CASCADE;

CREATE TRIGGER "AgentRun_touch_updatedAt" BEFORE UPDATE ON "AgentRun"
    FOR EACH ROW EXECUTE FUNCTION qai_touch_updated_at();
