-- depends: 0013_sites
-- Images a user sent with a message: their bytes in the uploads store (UPLOADS_BUCKET, or
-- LOCAL_UPLOADS_DIR on one machine), under uploads/<projectId>/<messageId>/<id>.

CREATE TABLE "MessageImage" (
    "id" TEXT NOT NULL,
    "messageId" TEXT NOT NULL,
    "position" INTEGER NOT NULL,
    "mediaType" TEXT NOT NULL
        CONSTRAINT "MessageImage_mediaType_check" CHECK ("mediaType" IN ('image/png', 'image/jpeg', 'image/gif', 'image/webp')),
    "size" INTEGER NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),

    CONSTRAINT "MessageImage_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "MessageImage_messageId_fkey" FOREIGN KEY ("messageId") REFERENCES "Message"("id")
        ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE INDEX "MessageImage_messageId_idx" ON "MessageImage"("messageId", "position");
