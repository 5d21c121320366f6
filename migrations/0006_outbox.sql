-- depends: 0005_living_apps
-- A transactional outbox for agent runs: the API commits the run, then sends its queue message;
-- "sentAt" says when the message was last sent (NULL: the send failed). A scheduled sweeper
-- re-sends runs whose message was never sent or seems lost, and ends runs abandoned after their
-- last attempt.

ALTER TABLE "AgentRun" ADD COLUMN "sentAt" TIMESTAMP(3);
UPDATE "AgentRun" SET "sentAt" = "createdAt";  -- runs queued before the outbox were sent in their transaction

-- The sweeper's scan: only unfinished runs, a handful at any time.
CREATE INDEX "AgentRun_unfinished_idx" ON "AgentRun"("createdAt") WHERE "status" IN ('QUEUED', 'RUNNING');
