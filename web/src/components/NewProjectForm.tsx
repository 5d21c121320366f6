import { Button, Container, Group, Stack, Text, Title } from "@mantine/core";
import { useState } from "react";
import { useCreateProject } from "../api/queries";
import { toInput } from "../images";
import { ErrorAlert } from "./ErrorAlert";
import { AddImageButton, AttachedImages, PromptTextarea, usePromptImages } from "./PromptImages";

export function NewProjectForm({ onCreated }: { onCreated: (projectId: string) => void }) {
  const [value, setValue] = useState("");
  const create = useCreateProject();
  const images = usePromptImages();
  const submit = () => {
    if (!value.trim()) return;
    create.mutate(
      { value, images: toInput(images.images) },
      {
        onSuccess: (project) => {
          images.clear();
          onCreated(project.id);
        },
      },
    );
  };
  return (
    <Container size="sm" py="xl">
      <form
        onSubmit={(event) => {
          event.preventDefault();
          submit();
        }}
      >
        <Stack>
          <Title order={2}>What should QAI build?</Title>
          <Text c="dimmed">Describe an app. You watch it being built, then use it right here.</Text>
          <PromptTextarea
            prompt={images}
            value={value}
            onValue={setValue}
            onSubmit={submit}
            label="Your app"
            placeholder="A todo app with dark mode"
            minRows={3}
            description="Ctrl+Enter to build; paste or drop images on the box"
            autoFocus
          />
          <AttachedImages prompt={images} />
          <Group>
            <AddImageButton prompt={images} />
          </Group>
          <ErrorAlert error={create.error} />
          <Button type="submit" loading={create.isPending} disabled={!value.trim()}>
            Build it
          </Button>
        </Stack>
      </form>
    </Container>
  );
}
