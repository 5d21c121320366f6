import { Button, Container, Stack, Text, Textarea, Title } from "@mantine/core";
import { useState } from "react";
import { useCreateProject } from "../api/queries";
import { PROMPT_LIMIT } from "../prompt";
import { ErrorAlert } from "./ErrorAlert";

export function NewProjectForm({ onCreated }: { onCreated: (projectId: string) => void }) {
  const [value, setValue] = useState("");
  const create = useCreateProject();
  const submit = () => {
    if (!value.trim()) return;
    create.mutate(value, { onSuccess: (project) => onCreated(project.id) });
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
          <Textarea
            label="Your app"
            placeholder="A todo app with dark mode"
            autosize
            minRows={3}
            maxLength={PROMPT_LIMIT}
            value={value}
            onChange={(event) => setValue(event.currentTarget.value)}
            onKeyDown={(event) => {
              if (event.key === "Enter" && (event.metaKey || event.ctrlKey)) submit();
            }}
            description="Ctrl+Enter to build"
            autoFocus
          />
          <ErrorAlert error={create.error} />
          <Button type="submit" loading={create.isPending} disabled={!value.trim()}>
            Build it
          </Button>
        </Stack>
      </form>
    </Container>
  );
}
