-- depends: 0001_original_schema
-- What this backend needs on top of the original schema. Nothing here rewrites existing rows:
-- projects created by the original app have no owner (NULL) and are listed to nobody.

ALTER TABLE "Project" ADD COLUMN "userId" TEXT;

-- GET /projects: the caller's projects, newest update first, keyset-paginated.
CREATE INDEX "Project_userId_updatedAt_id_idx" ON "Project"("userId", "updatedAt" DESC, "id" DESC);

-- GET /projects/{id}/messages and the agent's "recent conversation": a project's messages in order.
CREATE INDEX "Message_projectId_createdAt_idx" ON "Message"("projectId", "createdAt");

-- Timestamps are UTC whatever the session's TimeZone (the original app writes UTC). The original
-- app sets "updatedAt" itself; the trigger keeps it true for every writer, and the defaults let
-- plain INSERTs omit both timestamps.
ALTER TABLE "Project" ALTER COLUMN "createdAt" SET DEFAULT (now() AT TIME ZONE 'UTC'),
    ALTER COLUMN "updatedAt" SET DEFAULT (now() AT TIME ZONE 'UTC');
ALTER TABLE "Message" ALTER COLUMN "createdAt" SET DEFAULT (now() AT TIME ZONE 'UTC'),
    ALTER COLUMN "updatedAt" SET DEFAULT (now() AT TIME ZONE 'UTC');
ALTER TABLE "Fragment" ALTER COLUMN "createdAt" SET DEFAULT (now() AT TIME ZONE 'UTC'),
    ALTER COLUMN "updatedAt" SET DEFAULT (now() AT TIME ZONE 'UTC');

CREATE FUNCTION qai_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW."updatedAt" := now() AT TIME ZONE 'UTC';
    RETURN NEW;
END;
$$;

CREATE TRIGGER "Project_touch_updatedAt" BEFORE UPDATE ON "Project"
    FOR EACH ROW EXECUTE FUNCTION qai_touch_updated_at();
CREATE TRIGGER "Message_touch_updatedAt" BEFORE UPDATE ON "Message"
    FOR EACH ROW EXECUTE FUNCTION qai_touch_updated_at();
CREATE TRIGGER "Fragment_touch_updatedAt" BEFORE UPDATE ON "Fragment"
    FOR EACH ROW EXECUTE FUNCTION qai_touch_updated_at();
