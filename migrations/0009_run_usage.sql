-- depends: 0008_cancel
-- A run's usage in full: every model call (the agent's turns, and the title and reply), and what
-- they cost in USD at the prices the agent knows; NULL when a call's model had no price.

ALTER TABLE "AgentRun"
    ADD COLUMN "modelCalls" INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN "costUsd" NUMERIC(14, 6) DEFAULT 0;

-- Runs before this had calls whose cost was not counted: unknown, not free.
UPDATE "AgentRun" SET "costUsd" = NULL WHERE "modelTurns" > 0;
