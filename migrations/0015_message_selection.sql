-- depends: 0014_message_images
-- The element a user pointed at in the preview when sending a follow-up: {file, line, column}.

ALTER TABLE "Message" ADD COLUMN "selection" JSONB;
