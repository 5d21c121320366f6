-- depends: 0011_message_mode
-- A project's last push of its history to a git remote: one row per project, replaced by the next
-- push. The token is sealed (KMS, or a local key) and kept only until the job ends.

CREATE TABLE "GitPush" (
    "projectId" TEXT NOT NULL,
    "id" TEXT NOT NULL,
    "fragmentId" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "branch" TEXT NOT NULL,
    "username" TEXT NOT NULL,
    "sealedToken" BYTEA,
    -- PUSHING from the request until the job's outcome (its lease says whether a job holds it).
    "status" TEXT NOT NULL DEFAULT 'PUSHING'
        CONSTRAINT "GitPush_status_check" CHECK ("status" IN ('PUSHING', 'PUSHED', 'FAILED')),
    "commit" TEXT,
    "error" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "leaseExpiresAt" TIMESTAMP(3),
    "requestedAt" TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    "finishedAt" TIMESTAMP(3),
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),

    CONSTRAINT "GitPush_pkey" PRIMARY KEY ("projectId"),
    CONSTRAINT "GitPush_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id")
        ON DELETE CASCADE ON UPDATE CASCADE,
    -- A finished push holds no token.
    CONSTRAINT "GitPush_token_until_done" CHECK ("status" = 'PUSHING' OR "sealedToken" IS NULL)
);

CREATE TRIGGER "GitPush_touch_updatedAt" BEFORE UPDATE ON "GitPush"
    FOR EACH ROW EXECUTE FUNCTION qai_touch_updated_at();
