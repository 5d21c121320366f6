import { Grid, Loader, Paper, Tabs } from "@mantine/core";
import { useMediaQuery } from "@mantine/hooks";
import { useCallback, useState } from "react";
import type { FragmentSummary } from "../api/client";
import { useMessages } from "../api/queries";
import { activeRun } from "../runProgress";
import { errorsOf, NO_PREVIEW_ERRORS, type RuntimeError, withRuntimeError } from "../runtimeErrors";
import type { ElementSelection } from "../selection";
import { Conversation } from "./Conversation";
import { ErrorAlert } from "./ErrorAlert";
import { FilesPanel } from "./FilesPanel";
import { PreviewPanel } from "./PreviewPanel";
import { VersionsPanel } from "./VersionsPanel";

/** One project: the chat on the left, the app (preview, files, versions) on the right; on a phone,
 * each is a tab. */
export function ProjectView({ projectId }: { projectId: string }) {
  const messages = useMessages(projectId);
  const phone = useMediaQuery("(max-width: 48em)");
  const [chosen, setChosen] = useState<string | null>(null);
  const [tab, setTab] = useState<string | null>("preview");
  // The errors the app in the preview threw: kept here, so that they stay while another tab is open.
  const [previewErrors, setPreviewErrors] = useState(NO_PREVIEW_ERRORS);
  const onRuntimeError = useCallback(
    (fragmentId: string, error: RuntimeError) => setPreviewErrors((state) => withRuntimeError(state, fragmentId, error)),
    [],
  );
  // The element pointed at with "Select", until the follow-up about it is sent or it is removed.
  const [selection, setSelection] = useState<ElementSelection | null>(null);
  const onSelect = useCallback(
    (selected: ElementSelection) => {
      setSelection(selected);
      if (phone) setTab("chat"); // where the prompt that uses it is
    },
    [phone],
  );
  if (messages.isPending) return <Loader aria-label="Loading the conversation" />;
  if (messages.error) return <ErrorAlert error={messages.error} />;
  const fragments = messages.data.flatMap((m) => (m.fragment ? [m.fragment] : []));
  const shown: FragmentSummary | undefined = fragments.find((f) => f.id === chosen) ?? fragments.at(-1);
  if (previewErrors.errors.length && previewErrors.fragmentId !== shown?.id) {
    setPreviewErrors(NO_PREVIEW_ERRORS); // another version is shown (a new one, or one chosen): its own errors only
  }
  const showVersion = (fragmentId: string) => {
    setChosen(fragmentId);
    setTab("preview");
  };
  const conversation = (
    <Conversation
      projectId={projectId}
      messages={messages.data}
      onShowVersion={showVersion}
      selection={selection}
      onClearSelection={() => setSelection(null)}
    />
  );
  const app = (name: string) => (
    <Tabs.Panel key={name} value={name} pt="sm" style={{ flex: 1, display: "flex", flexDirection: "column" }}>
      {name === "chat" && conversation}
      {name === "preview" && (
        <PreviewPanel
          projectId={projectId}
          fragment={shown}
          newest={fragments.at(-1)}
          errors={errorsOf(previewErrors, shown?.id)}
          onRuntimeError={onRuntimeError}
          running={Boolean(activeRun(messages.data))}
          onFixSent={() => {
            if (phone) setTab("chat"); // where the run that fixes it shows
          }}
          onSelect={onSelect}
        />
      )}
      {name === "files" && <FilesPanel projectId={projectId} fragment={shown} />}
      {name === "versions" && (
        <VersionsPanel projectId={projectId} fragments={fragments} shown={shown?.id} onShow={showVersion} />
      )}
    </Tabs.Panel>
  );
  const tabs = (names: string[]) => (
    <Tabs value={tab} onChange={setTab} keepMounted={false} h="100%" style={{ display: "flex", flexDirection: "column" }}>
      <Tabs.List>
        {names.map((name) => (
          <Tabs.Tab key={name} value={name}>
            {name[0].toUpperCase() + name.slice(1)}
          </Tabs.Tab>
        ))}
      </Tabs.List>
      {names.map(app)}
    </Tabs>
  );
  if (phone) return tabs(["chat", "preview", "files", "versions"]);
  return (
    <Grid gap="md" styles={{ inner: { height: "calc(100vh - 56px - 2rem)" } }}>
      <Grid.Col span={5} h="100%">
        <Paper withBorder p="sm" h="100%" style={{ display: "flex", flexDirection: "column" }}>
          {conversation}
        </Paper>
      </Grid.Col>
      <Grid.Col span={7} h="100%">
        <Paper withBorder p="sm" h="100%" style={{ display: "flex", flexDirection: "column" }}>
          {tabs(["preview", "files", "versions"])}
        </Paper>
      </Grid.Col>
    </Grid>
  );
}
