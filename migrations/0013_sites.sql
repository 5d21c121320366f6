-- depends: 0012_git_push
-- A project's published site: one per project, at a stable slug. A publish uploads the export of a
-- version to a new prefix and then moves the site's pointer ("livePrefix") to it.

CREATE TABLE "Site" (
    "projectId" TEXT NOT NULL,
    "slug" TEXT NOT NULL,
    -- PUBLISHING from the request until the job's outcome; FAILED keeps the last live prefix serving.
    "status" TEXT NOT NULL DEFAULT 'PUBLISHING'
        CONSTRAINT "Site_status_check" CHECK ("status" IN ('PUBLISHING', 'PUBLISHED', 'FAILED', 'UNPUBLISHED')),
    "jobId" TEXT NOT NULL,
    "fragmentId" TEXT NOT NULL,
    "liveFragmentId" TEXT,
    "livePrefix" TEXT,
    "error" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "leaseExpiresAt" TIMESTAMP(3),
    "requestedAt" TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    "publishedAt" TIMESTAMP(3),
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),

    CONSTRAINT "Site_pkey" PRIMARY KEY ("projectId"),
    CONSTRAINT "Site_slug_key" UNIQUE ("slug"),
    CONSTRAINT "Site_projectId_fkey" FOREIGN KEY ("projectId") REFERENCES "Project"("id")
        ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TRIGGER "Site_touch_updatedAt" BEFORE UPDATE ON "Site"
    FOR EACH ROW EXECUTE FUNCTION qai_touch_updated_at();
