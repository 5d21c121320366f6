-- depends: 0003_agent_runs
-- Usage credits: each queued run spends one credit of its user's rolling window; a FAILED run
-- gets its credit back. Charges are kept per run (not per project, so deleting a project does
-- not give credits back).

CREATE TABLE "CreditAccount" (
    "userId" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),

    CONSTRAINT "CreditAccount_pkey" PRIMARY KEY ("userId")
);

CREATE TABLE "CreditCharge" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "runId" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    "refundedAt" TIMESTAMP(3),

    CONSTRAINT "CreditCharge_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "CreditCharge_userId_fkey" FOREIGN KEY ("userId") REFERENCES "CreditAccount"("userId")
        ON DELETE CASCADE ON UPDATE CASCADE
);

-- One charge per run, found by the run when it is refunded.
CREATE UNIQUE INDEX "CreditCharge_runId_key" ON "CreditCharge"("runId");
-- The credits a user has spent in the window: only unrefunded charges count.
CREATE INDEX "CreditCharge_userId_createdAt_spent_idx" ON "CreditCharge"("userId", "createdAt")
    WHERE "refundedAt" IS NULL;
