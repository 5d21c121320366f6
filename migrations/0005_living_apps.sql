-- depends: 0004_usage_credits
-- Living apps: a fragment records the sandbox that holds its app (to reconnect to it, or to rebuild
-- one from the files when it expired) and whether the app failed the agent's build check; a
-- preview job brings a fragment's preview back. The original columns stay as they are.

ALTER TABLE "Fragment" ADD COLUMN "sandboxId" TEXT;
ALTER TABLE "Fragment" ADD COLUMN "checkError" TEXT;
-- "Does a newer fragment hold this sandbox now?"
CREATE INDEX "Fragment_sandboxId_idx" ON "Fragment"("sandboxId");

CREATE TYPE "PreviewStatus" AS ENUM ('STARTING', 'READY', 'FAILED');

-- One row per fragment whose preview was asked to come back: the latest such job.
CREATE TABLE "PreviewJob" (
    "fragmentId" TEXT NOT NULL,
    "status" "PreviewStatus" NOT NULL DEFAULT 'STARTING',
    "error" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "leaseExpiresAt" TIMESTAMP(3),
    "requestedAt" TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),

    CONSTRAINT "PreviewJob_pkey" PRIMARY KEY ("fragmentId"),
    CONSTRAINT "PreviewJob_fragmentId_fkey" FOREIGN KEY ("fragmentId") REFERENCES "Fragment"("id")
        ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TRIGGER "PreviewJob_touch_updatedAt" BEFORE UPDATE ON "PreviewJob"
    FOR EACH ROW EXECUTE FUNCTION qai_touch_updated_at();
