import { ActionIcon, Button, Group, Loader, Modal, NavLink, ScrollArea, Stack, Text } from "@mantine/core";
import { IconPlus, IconTrash } from "@tabler/icons-react";
import { useState } from "react";
import type { Project } from "../api/client";
import { useDeleteProject, useProjects } from "../api/queries";
import { openProject, projectHash } from "../route";
import { ErrorAlert } from "./ErrorAlert";

export function ProjectList({ current, onOpen }: { current: string | null; onOpen: () => void }) {
  const projects = useProjects();
  const remove = useDeleteProject();
  const [doomed, setDoomed] = useState<Project | null>(null);
  const open = (projectId: string | null) => {
    openProject(projectId);
    onOpen();
  };
  return (
    <Stack gap="xs" h="100%">
      <Button leftSection={<IconPlus size={16} />} variant="light" onClick={() => open(null)}>
        New project
      </Button>
      {projects.isPending && <Loader size="sm" aria-label="Loading projects" />}
      <ErrorAlert error={projects.error} />
      <ScrollArea style={{ flex: 1 }}>
        <nav aria-label="Projects">
          {projects.data?.items.map((project) => (
            <Group key={project.id} gap={0} wrap="nowrap">
              <NavLink
                href={projectHash(project.id)}
                label={project.name}
                description={new Date(project.updatedAt).toLocaleString()}
                active={project.id === current}
                onClick={onOpen}
                style={{ flex: 1 }}
              />
              <ActionIcon
                variant="subtle"
                color="red"
                aria-label={`Delete ${project.name}`}
                onClick={() => setDoomed(project)}
              >
                <IconTrash size={16} />
              </ActionIcon>
            </Group>
          ))}
          {projects.data?.items.length === 0 && (
            <Text c="dimmed" size="sm">
              No projects yet.
            </Text>
          )}
        </nav>
      </ScrollArea>
      <Modal opened={doomed !== null} onClose={() => setDoomed(null)} title="Delete this project?" centered>
        <Stack>
          <Text>
            <b>{doomed?.name}</b> and its whole conversation, versions and files will be gone for good.
          </Text>
          <ErrorAlert error={remove.error} />
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setDoomed(null)}>
              Keep it
            </Button>
            <Button
              color="red"
              loading={remove.isPending}
              onClick={() => {
                if (!doomed) return;
                remove.mutate(doomed.id, {
                  onSuccess: () => {
                    if (doomed.id === current) openProject(null);
                    setDoomed(null);
                  },
                });
              }}
            >
              Delete
            </Button>
          </Group>
        </Stack>
      </Modal>
    </Stack>
  );
}
