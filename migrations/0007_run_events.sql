-- depends: 0006_outbox
-- What an agent run does, as it happens: status changes, model turns, commands, files, the build
-- check, errors. One row per event, numbered per run; the API serves them after a given number.

CREATE TABLE "RunEvent" (
    "runId" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    "kind" TEXT NOT NULL,
    "text" TEXT NOT NULL,
    "data" JSONB NOT NULL DEFAULT '{}',

    CONSTRAINT "RunEvent_pkey" PRIMARY KEY ("runId", "seq"),
    CONSTRAINT "RunEvent_runId_fkey" FOREIGN KEY ("runId") REFERENCES "AgentRun"("id")
        ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "RunEvent_kind_check" CHECK ("kind" IN ('status', 'model', 'command', 'files', 'check', 'error'))
);
