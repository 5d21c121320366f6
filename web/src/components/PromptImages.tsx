import { Alert, Button, CloseButton, FileButton, Group, Image, Modal, Paper, Stack, Textarea, type TextareaProps } from "@mantine/core";
import { IconPhotoPlus } from "@tabler/icons-react";
import { useCallback, useRef, useState, type ClipboardEvent, type CSSProperties, type DragEvent, type Ref } from "react";
import type { Message } from "../api/client";
import { useMessageImage } from "../api/queries";
import { attach, dataUrl, IMAGE_ACCEPT, type AttachedImage } from "../images";
import { PROMPT_LIMIT } from "../prompt";

/** The images attached to a prompt box, and why the last ones added were refused. */
export function usePromptImages() {
  const [images, setImages] = useState<AttachedImage[]>([]);
  const [refused, setRefused] = useState<string[]>([]);
  const add = useCallback(
    (files: readonly File[]) => {
      if (files.length === 0) return;
      void attach(images, files).then((added) => {
        setImages(added.images);
        setRefused(added.refused);
      });
    },
    [images],
  );
  const remove = (index: number) => {
    setImages((current) => current.filter((_, n) => n !== index));
    setRefused([]);
  };
  const clear = () => {
    setImages([]);
    setRefused([]);
  };
  /** Clipboard images pasted into the box (text pastes as usual). */
  const onPaste = (event: ClipboardEvent) => {
    const files = Array.from(event.clipboardData.files);
    if (files.length === 0) return;
    event.preventDefault();
    add(files);
  };
  const onDragOver = (event: DragEvent) => {
    if (event.dataTransfer.types.includes("Files")) event.preventDefault();
  };
  const onDrop = (event: DragEvent) => {
    if (event.dataTransfer.files.length === 0) return;
    event.preventDefault();
    add(Array.from(event.dataTransfer.files));
  };
  return { images, refused, add, remove, clear, onPaste, dropZone: { onDragOver, onDrop } };
}

export type PromptImages = ReturnType<typeof usePromptImages>;

/** The "Add image" button. */
export function AddImageButton({ prompt, disabled }: { prompt: PromptImages; disabled?: boolean }) {
  const reset = useRef<() => void>(null);
  return (
    <FileButton
      onChange={(files) => {
        prompt.add(files);
        reset.current?.(); // the same file may be chosen again after its removal
      }}
      accept={IMAGE_ACCEPT}
      multiple
      resetRef={reset}
    >
      {(props) => (
        <Button {...props} variant="subtle" size="compact-sm" leftSection={<IconPhotoPlus size={16} />} disabled={disabled}>
          Add image
        </Button>
      )}
    </FileButton>
  );
}

/** Thumbnails of the attached images, each with its remove button, and the refusals. */
export function AttachedImages({ prompt }: { prompt: PromptImages }) {
  if (prompt.images.length === 0 && prompt.refused.length === 0) return null;
  return (
    <Stack gap={4}>
      {prompt.images.length > 0 && (
        <Group gap="xs" aria-label="Attached images" role="list">
          {prompt.images.map((image, index) => (
            <Paper key={index} withBorder pos="relative" role="listitem" p={2}>
              <Image src={dataUrl(image)} alt={image.name} w={64} h={64} fit="cover" radius="sm" />
              <CloseButton
                size="xs"
                pos="absolute"
                top={2}
                right={2}
                variant="filled"
                aria-label={`Remove ${image.name}`}
                onClick={() => prompt.remove(index)}
              />
            </Paper>
          ))}
        </Group>
      )}
      {prompt.refused.length > 0 && (
        <Alert color="red" p="xs" withCloseButton={false}>
          {prompt.refused.map((why) => (
            <div key={why}>{why}</div>
          ))}
        </Alert>
      )}
    </Stack>
  );
}

/** The prompt box: text up to the prompt limit, Ctrl+Enter to send, images pasted or dropped on it. */
export function PromptTextarea({
  prompt,
  value,
  onValue,
  onSubmit,
  textareaRef,
  ...textarea
}: {
  prompt: PromptImages;
  value: string;
  onValue: (value: string) => void;
  onSubmit: () => void;
  textareaRef?: Ref<HTMLTextAreaElement>;
} & Omit<TextareaProps, "value" | "onChange" | "onKeyDown" | "onPaste" | "maxLength" | "autosize">) {
  return (
    <div {...prompt.dropZone}>
      <Textarea
        ref={textareaRef}
        autosize
        maxLength={PROMPT_LIMIT}
        value={value}
        onChange={(event) => onValue(event.currentTarget.value)}
        onKeyDown={(event) => {
          if (event.key === "Enter" && (event.metaKey || event.ctrlKey)) onSubmit();
        }}
        onPaste={prompt.onPaste}
        {...textarea}
      />
    </div>
  );
}

/** A sent message's images: thumbnails, each opening the image larger. */
export function MessageImages({ projectId, message }: { projectId: string; message: Message }) {
  const [open, setOpen] = useState<string | null>(null);
  const images = message.images ?? [];
  if (images.length === 0) return null;
  return (
    <Group gap="xs" mt="xs" justify="flex-end">
      {images.map((image, index) => (
        <MessageImage
          key={image.id}
          projectId={projectId}
          messageId={message.id}
          imageId={image.id}
          alt={`Image ${index + 1}`}
          large={open === image.id}
          onOpen={() => setOpen(image.id)}
          onClose={() => setOpen(null)}
        />
      ))}
    </Group>
  );
}

function MessageImage({
  projectId,
  messageId,
  imageId,
  alt,
  large,
  onOpen,
  onClose,
}: {
  projectId: string;
  messageId: string;
  imageId: string;
  alt: string;
  large: boolean;
  onOpen: () => void;
  onClose: () => void;
}) {
  const bytes = useMessageImage(projectId, messageId, imageId);
  if (!bytes.data) return <Paper w={64} h={64} withBorder aria-label={bytes.isError ? `${alt} could not be loaded` : `${alt} loading`} />;
  return (
    <>
      <button type="button" onClick={onOpen} aria-label={`Open ${alt.toLowerCase()}`} style={{ padding: 0, border: 0, background: "none", cursor: "zoom-in" }}>
        <BlobImage blob={bytes.data} alt={alt} style={{ width: 64, height: 64, objectFit: "cover", borderRadius: 4, display: "block" }} />
      </button>
      <Modal opened={large} onClose={onClose} title={alt} size="auto" centered>
        <BlobImage blob={bytes.data} alt={alt} style={{ maxWidth: "80vw", maxHeight: "80vh", objectFit: "contain", display: "block" }} />
      </Modal>
    </>
  );
}

/** An image of bytes already fetched, shown through a blob: URL that is revoked when it goes. */
function BlobImage({ blob, alt, style }: { blob: Blob; alt: string; style: CSSProperties }) {
  const show = useCallback(
    (img: HTMLImageElement | null) => {
      if (!img) return;
      const url = URL.createObjectURL(blob);
      img.src = url;
      return () => URL.revokeObjectURL(url);
    },
    [blob],
  );
  return <img ref={show} alt={alt} style={style} />;
}
