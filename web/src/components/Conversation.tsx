import { Button, CloseButton, Group, ScrollArea, SegmentedControl, Stack, Text } from "@mantine/core";
import { IconClick, IconSend } from "@tabler/icons-react";
import { useEffect, useRef, useState } from "react";
import type { Message, MessageMode } from "../api/client";
import { useSendMessage } from "../api/queries";
import { toInput } from "../images";
import { isMode, MODES } from "../prompt";
import { activeRun } from "../runProgress";
import { type ElementSelection, selectionLabel, toSelectionInput } from "../selection";
import { ErrorAlert } from "./ErrorAlert";
import { MessageBubble } from "./MessageBubble";
import { AddImageButton, AttachedImages, PromptTextarea, usePromptImages } from "./PromptImages";

export function Conversation({
  projectId,
  messages,
  onShowVersion,
  selection,
  onClearSelection,
}: {
  projectId: string;
  messages: Message[];
  onShowVersion: (fragmentId: string) => void;
  /** The element the follow-up is about, pointed at in the preview. */
  selection: ElementSelection | null;
  onClearSelection: () => void;
}) {
  const [value, setValue] = useState("");
  const [mode, setMode] = useState<MessageMode>("build");
  const send = useSendMessage(projectId);
  const images = usePromptImages();
  const running = activeRun(messages);
  const end = useRef<HTMLDivElement>(null);
  const prompt = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    if (selection) prompt.current?.focus(); // say what to change about it
  }, [selection]);
  useEffect(() => {
    // Newer browsers return a promise here; an effect must return nothing but its clean-up.
    void end.current?.scrollIntoView({ block: "end" });
  }, [messages.length]);
  const submit = () => {
    if (!value.trim() || running) return;
    send.mutate(
      { value, mode, images: toInput(images.images), selection: selection ? toSelectionInput(selection) : undefined },
      {
        onSuccess: () => {
          setValue("");
          images.clear();
          onClearSelection();
        },
      },
    );
  };
  return (
    <Stack h="100%" gap="sm" style={{ minHeight: 0 }}>
      <ScrollArea style={{ flex: 1 }} aria-label="Conversation">
        <Stack gap="sm" role="log" aria-live="polite">
          {messages.map((message) => (
            <MessageBubble
              key={message.id}
              projectId={projectId}
              message={message}
              live={message.id === running?.id}
              onShowVersion={onShowVersion}
            />
          ))}
          <div ref={end} />
        </Stack>
      </ScrollArea>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          submit();
        }}
      >
        <Stack gap="xs">
          <ErrorAlert error={send.error} />
          <SegmentedControl
            size="xs"
            aria-label="Mode"
            value={mode}
            onChange={(chosen) => {
              if (isMode(chosen)) setMode(chosen);
            }}
            data={Object.entries(MODES).map(([key, shown]) => ({ value: key, label: shown.label }))}
          />
          {selection && (
            <Group gap="xs" wrap="nowrap" role="group" aria-label="Selected element" className="selection-chip">
              <IconClick size={14} aria-hidden />
              <Text size="xs" ff="monospace" truncate style={{ flex: 1, minWidth: 0 }}>
                {selectionLabel(selection)}
              </Text>
              <CloseButton size="sm" aria-label="Remove the selection" onClick={onClearSelection} />
            </Group>
          )}
          <PromptTextarea
            prompt={images}
            value={value}
            onValue={setValue}
            onSubmit={submit}
            textareaRef={prompt}
            label={MODES[mode].field}
            placeholder={running ? "The agent is working…" : MODES[mode].placeholder}
            minRows={2}
            maxRows={6}
          />
          <AttachedImages prompt={images} />
          <Group justify="space-between">
            <Group gap="xs">
              <AddImageButton prompt={images} />
              <Text size="xs" c="dimmed">
                {running ? "Wait for the run to finish, or stop it." : "Ctrl+Enter to send"}
              </Text>
            </Group>
            <Button type="submit" leftSection={<IconSend size={16} />} loading={send.isPending} disabled={!value.trim() || Boolean(running)}>
              Send
            </Button>
          </Group>
        </Stack>
      </form>
    </Stack>
  );
}
