import { Alert, Button, Code, Group, Loader, Modal, PasswordInput, Stack, Text, TextInput } from "@mantine/core";
import { useMediaQuery } from "@mantine/hooks";
import { IconBrandGit, IconCheck } from "@tabler/icons-react";
import { type ChangeEvent, useState } from "react";
import type { GitPush } from "../api/client";
import { useLastPush, useStartPush } from "../api/queries";
import {
  initialPushForm,
  PUSH_STATUS_LABEL,
  pushFormProblems,
  type PushFormProblems,
  pushRequest,
  pushSummary,
  shortCommit,
} from "../gitPush";
import { ErrorAlert } from "./ErrorAlert";

/** "Push to git": a dialog that pushes the project's history to a remote branch with a token, and
 * shows how the last push went. The token lives in the form's state only: gone when the dialog closes. */
export function GitPushButton({ projectId }: { projectId: string }) {
  const [open, setOpen] = useState(false);
  const phone = useMediaQuery("(max-width: 48em)");
  return (
    <>
      <Button
        size="compact-sm"
        variant="default"
        leftSection={<IconBrandGit size={14} />}
        onClick={() => setOpen(true)}
        aria-haspopup="dialog"
      >
        Push to git
      </Button>
      <Modal
        opened={open}
        onClose={() => setOpen(false)}
        title="Push to git"
        size="lg"
        fullScreen={Boolean(phone)}
        closeButtonProps={{ "aria-label": "Close" }}
      >
        {open && <PushDialogBody projectId={projectId} />}
      </Modal>
    </>
  );
}

function PushDialogBody({ projectId }: { projectId: string }) {
  const last = useLastPush(projectId, true);
  if (last.isPending) return <Loader size="sm" aria-label="Loading the last push" />;
  return (
    <Stack gap="md">
      <ErrorAlert error={last.error} title="The last push is not shown" />
      {last.data && <LastPush push={last.data} />}
      <PushForm projectId={projectId} last={last.data} />
    </Stack>
  );
}

function LastPush({ push }: { push: GitPush }) {
  const when = push.finishedAt ?? push.requestedAt;
  if (push.status === "PUSHING") {
    return (
      <Group gap="xs" role="status">
        <Loader size="xs" aria-hidden />
        <Text size="sm">{pushSummary(push)}</Text>
      </Group>
    );
  }
  if (push.status === "PUSHED") {
    return (
      <Alert color="green" title={PUSH_STATUS_LABEL.PUSHED} icon={<IconCheck />} role="status">
        <Text size="sm">
          <Code>{push.branch}</Code> is at <Code title={push.commit ?? undefined}>{shortCommit(push.commit)}</Code> on{" "}
          <span style={{ wordBreak: "break-all" }}>{push.url}</span>
        </Text>
        <Text size="xs" c="dimmed">
          {new Date(when).toLocaleString()}
        </Text>
      </Alert>
    );
  }
  return (
    <Alert color="red" title={PUSH_STATUS_LABEL.FAILED} role="alert">
      <Text size="sm" style={{ wordBreak: "break-word" }}>
        {pushSummary(push)}
      </Text>
      <Text size="xs" c="dimmed">
        To <span style={{ wordBreak: "break-all" }}>{push.url}</span> ({push.branch}), {new Date(when).toLocaleString()}
      </Text>
    </Alert>
  );
}

function PushForm({ projectId, last }: { projectId: string; last: GitPush | null | undefined }) {
  const startPush = useStartPush(projectId);
  const [form, setForm] = useState(() => initialPushForm(last));
  const [problems, setProblems] = useState<PushFormProblems>({});
  const [sending, setSending] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const pushing = last?.status === "PUSHING";
  const field = (name: keyof typeof form) => ({
    value: form[name],
    error: problems[name],
    onChange: (event: ChangeEvent<HTMLInputElement>) => {
      const value = event.currentTarget.value;
      setForm((typed) => ({ ...typed, [name]: value }));
      setProblems((shown) => ({ ...shown, [name]: undefined }));
    },
  });
  const submit = async () => {
    const found = pushFormProblems(form);
    setProblems(found);
    setError(null);
    if (Object.keys(found).length) return;
    setSending(true);
    try {
      await startPush(pushRequest(form));
      setForm((sent) => ({ ...sent, token: "" })); // sent once: the next push asks for it again
    } catch (failed) {
      setError(failed);
    } finally {
      setSending(false);
    }
  };
  return (
    <form
      autoComplete="off"
      noValidate
      onSubmit={(event) => {
        event.preventDefault();
        void submit();
      }}
    >
      <Stack gap="sm">
        <TextInput
          label="Repository URL"
          placeholder="https://github.com/you/app.git"
          description="An empty repository, or one this project pushed to before: only fast-forwards are pushed."
          type="url"
          inputMode="url"
          spellCheck={false}
          required
          {...field("url")}
        />
        <Group grow align="flex-start">
          <TextInput label="Branch" spellCheck={false} required {...field("branch")} />
          <TextInput
            label="Username"
            description="GitHub takes any name with a token; GitLab uses oauth2."
            spellCheck={false}
            required
            {...field("username")}
          />
        </Group>
        <PasswordInput
          label="Token"
          description="Used for this push only: sent once, never kept by this browser."
          autoComplete="off"
          required
          {...field("token")}
        />
        <ErrorAlert error={error} title="The push did not start" />
        <Group justify="flex-end">
          <Button type="submit" loading={sending} disabled={pushing} leftSection={<IconBrandGit size={16} />}>
            {pushing ? PUSH_STATUS_LABEL.PUSHING : "Push"}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
