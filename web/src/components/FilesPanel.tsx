import { Center, Grid, Loader, ScrollArea, Text, Tree, type TreeNodeData, UnstyledButton } from "@mantine/core";
import { IconChevronDown, IconChevronRight, IconFile } from "@tabler/icons-react";
import { useMemo, useState } from "react";
import type { FragmentSummary } from "../api/client";
import { useFragment } from "../api/queries";
import { CodeView } from "./CodeView";
import { ErrorAlert } from "./ErrorAlert";

/** The sorted paths as a tree of folders (value: the folder's path) and files (value: the file's path). */
export function pathTree(paths: string[]): TreeNodeData[] {
  const root: TreeNodeData[] = [];
  for (const path of paths) {
    let level = root;
    const parts = path.split("/");
    parts.forEach((part, index) => {
      const value = parts.slice(0, index + 1).join("/");
      let node = level.find((n) => n.value === value);
      if (!node) {
        node = { value, label: part, ...(index < parts.length - 1 ? { children: [] } : {}) };
        level.push(node);
      }
      level = node.children ?? [];
    });
  }
  return root;
}

export function FilesPanel({ projectId, fragment }: { projectId: string; fragment: FragmentSummary | undefined }) {
  const [open, setOpen] = useState<string | null>(null);
  const full = useFragment(projectId, open ? fragment?.id : undefined);
  const tree = useMemo(() => pathTree(fragment?.paths ?? []), [fragment]);
  if (!fragment) return <Text c="dimmed">No files yet.</Text>;
  return (
    <Grid>
      <Grid.Col span={{ base: 12, sm: 4 }}>
        <ScrollArea.Autosize mah="70vh">
          <Tree
            data={tree}
            aria-label="Files"
            renderNode={({ node, expanded, hasChildren, elementProps }) => (
              <UnstyledButton
                {...elementProps}
                onClick={(event) => {
                  elementProps.onClick(event);
                  if (!hasChildren) setOpen(node.value);
                }}
                aria-current={open === node.value ? "true" : undefined}
              >
                <Text size="sm" span fw={open === node.value ? 700 : 400}>
                  {hasChildren ? (
                    expanded ? <IconChevronDown size={12} /> : <IconChevronRight size={12} />
                  ) : (
                    <IconFile size={12} />
                  )}{" "}
                  {node.label}
                </Text>
              </UnstyledButton>
            )}
          />
        </ScrollArea.Autosize>
      </Grid.Col>
      <Grid.Col span={{ base: 12, sm: 8 }}>
        {!open && <Text c="dimmed">Choose a file.</Text>}
        {open && full.isPending && (
          <Center>
            <Loader size="sm" aria-label="Loading the file" />
          </Center>
        )}
        <ErrorAlert error={full.error} />
        {open && full.data && (
          <>
            <Text size="sm" fw={600} mb={4}>
              {open}
            </Text>
            <CodeView path={open} content={full.data.files[open] ?? ""} />
          </>
        )}
      </Grid.Col>
    </Grid>
  );
}
