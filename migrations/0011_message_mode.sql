-- depends: 0010_writing_events
-- A message's mode: build (the agent changes the app) or ask (it answers about the app without
-- changing it; the reply is a RESULT without a fragment).

ALTER TABLE "Message" ADD COLUMN "mode" TEXT NOT NULL DEFAULT 'build'
    CONSTRAINT "Message_mode_check" CHECK ("mode" IN ('build', 'ask'));
