import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback } from "react";
import { pushPollInterval } from "../gitPush";
import { activeRun, isFinished, withNewerEvents } from "../runProgress";
import type { ImageInput } from "../images";
import { sitePollInterval, unpublished } from "../site";
import {
  api,
  type GitPush,
  type GitPushInput,
  type MessageMode,
  type PreviewState,
  type Run,
  type SelectionInput,
  type Site,
  unwrap,
  unwrapOrNone,
} from "./client";

/** Server state through TanStack Query: one key per resource, polling only while something runs. */
export const keys = {
  projects: ["projects"] as const,
  usage: ["usage"] as const,
  messages: (projectId: string) => ["messages", projectId] as const,
  run: (projectId: string, messageId: string) => ["run", projectId, messageId] as const,
  fragment: (projectId: string, fragmentId: string) => ["fragment", projectId, fragmentId] as const,
  preview: (projectId: string, fragmentId: string) => ["preview", projectId, fragmentId] as const,
  diff: (projectId: string, fragmentId: string) => ["diff", projectId, fragmentId] as const,
  site: (projectId: string) => ["site", projectId] as const,
  push: (projectId: string) => ["push", projectId] as const,
  image: (projectId: string, messageId: string, imageId: string) => ["image", projectId, messageId, imageId] as const,
};

export function useProjects() {
  return useQuery({
    queryKey: keys.projects,
    queryFn: () => unwrap(api().GET("/projects", { params: { query: { limit: 100 } } })),
  });
}

export function useUsage() {
  return useQuery({ queryKey: keys.usage, queryFn: () => unwrap(api().GET("/usage")), refetchInterval: 60_000 });
}

export function useMessages(projectId: string) {
  return useQuery({
    queryKey: keys.messages(projectId),
    queryFn: async () =>
      (await unwrap(api().GET("/projects/{projectId}/messages", { params: { path: { projectId } } }))).items,
    refetchInterval: (query) => (activeRun(query.state.data) ? 3000 : false),
  });
}

/** A run and all its events so far: each poll asks only for the events after the last one seen. */
export function useRun(projectId: string, messageId: string) {
  const queryClient = useQueryClient();
  const key = keys.run(projectId, messageId);
  return useQuery({
    queryKey: key,
    queryFn: async (): Promise<Run> => {
      const seen = queryClient.getQueryData<Run>(key);
      const run = await unwrap(
        api().GET("/projects/{projectId}/messages/{messageId}/run", {
          params: { path: { projectId, messageId }, query: { after: seen?.nextAfter ?? 0 } },
        }),
      );
      return withNewerEvents(seen, run);
    },
    refetchInterval: (query) => (query.state.data && isFinished(query.state.data.status) ? false : 1000),
  });
}

export function useFragment(projectId: string, fragmentId: string | undefined) {
  return useQuery({
    queryKey: keys.fragment(projectId, fragmentId ?? ""),
    enabled: Boolean(fragmentId),
    staleTime: Infinity, // a version never changes
    queryFn: () =>
      unwrap(
        api().GET("/projects/{projectId}/fragments/{fragmentId}", {
          params: { path: { projectId, fragmentId: fragmentId ?? "" } },
        }),
      ),
  });
}

/** What a version changed since the one before it (the template for the first). */
export function useVersionDiff(projectId: string, fragmentId: string) {
  return useQuery({
    queryKey: keys.diff(projectId, fragmentId),
    staleTime: Infinity, // neither a version nor the one before it ever changes
    queryFn: () =>
      unwrap(
        api().GET("/projects/{projectId}/fragments/{fragmentId}/diff", {
          params: { path: { projectId, fragmentId } },
        }),
      ),
  });
}

export function usePreview(projectId: string, fragmentId: string) {
  return useQuery({
    queryKey: keys.preview(projectId, fragmentId),
    queryFn: () =>
      unwrap(
        api().GET("/projects/{projectId}/fragments/{fragmentId}/preview", {
          params: { path: { projectId, fragmentId } },
        }),
      ),
    refetchInterval: (query) => (query.state.data?.status === "STARTING" ? 2000 : false),
  });
}

export function useBringPreviewBack(projectId: string, fragmentId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () =>
      unwrap(
        api().POST("/projects/{projectId}/fragments/{fragmentId}/preview", {
          params: { path: { projectId, fragmentId } },
        }),
      ),
    onSuccess: (state: PreviewState) => queryClient.setQueryData(keys.preview(projectId, fragmentId), state),
  });
}

/** After a run starts or ends: the conversation, the project order and the credits change. (One
 * function per project, so that an effect can list it and run only when its other inputs change.) */
export function useRefreshAfterRun(projectId: string) {
  const queryClient = useQueryClient();
  return useCallback(() => {
    void queryClient.invalidateQueries({ queryKey: keys.messages(projectId) });
    void queryClient.invalidateQueries({ queryKey: keys.projects });
    void queryClient.invalidateQueries({ queryKey: keys.usage });
  }, [queryClient, projectId]);
}

export function useCreateProject() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: ({ value, images = [] }: { value: string; images?: ImageInput[] }) =>
      unwrap(api().POST("/projects", { body: images.length ? { value, images } : { value } })),
    onSettled: () => {
      void queryClient.invalidateQueries({ queryKey: keys.projects });
      void queryClient.invalidateQueries({ queryKey: keys.usage });
    },
  });
}

export function useDeleteProject() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (projectId: string) =>
      unwrap(api().DELETE("/projects/{projectId}", { params: { path: { projectId } } })),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keys.projects }),
  });
}

export function useSendMessage(projectId: string) {
  const refresh = useRefreshAfterRun(projectId);
  return useMutation({
    mutationFn: ({
      value,
      mode,
      images = [],
      selection,
    }: {
      value: string;
      mode: MessageMode;
      images?: ImageInput[];
      selection?: SelectionInput;
    }) =>
      unwrap(
        api().POST("/projects/{projectId}/messages", {
          params: { path: { projectId } },
          body: { value, mode, ...(images.length ? { images } : {}), ...(selection ? { selection } : {}) },
        }),
      ),
    onSettled: refresh,
  });
}

export function useCancelRun(projectId: string, messageId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () =>
      unwrap(
        api().POST("/projects/{projectId}/messages/{messageId}/run/cancel", {
          params: { path: { projectId, messageId } },
        }),
      ),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keys.run(projectId, messageId) }),
  });
}

export function useRestore(projectId: string) {
  const refresh = useRefreshAfterRun(projectId);
  return useMutation({
    mutationFn: (fragmentId: string) =>
      unwrap(
        api().POST("/projects/{projectId}/fragments/{fragmentId}/restore", {
          params: { path: { projectId, fragmentId } },
        }),
      ),
    onSettled: refresh,
  });
}

/** The project's site (null before its first publish), asked about every 1.5 s while it is being published. */
export function useSite(projectId: string) {
  return useQuery({
    queryKey: keys.site(projectId),
    queryFn: () => unwrapOrNone(api().GET("/projects/{projectId}/site", { params: { path: { projectId } } })),
    refetchInterval: (query) => sitePollInterval(query.state.data),
  });
}

export function usePublish(projectId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (fragmentId: string) =>
      unwrap(
        api().POST("/projects/{projectId}/fragments/{fragmentId}/publish", {
          params: { path: { projectId, fragmentId } },
        }),
      ),
    onSuccess: (site: Site) => queryClient.setQueryData(keys.site(projectId), site),
  });
}

export function useUnpublish(projectId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => unwrap(api().DELETE("/projects/{projectId}/site", { params: { path: { projectId } } })),
    onSuccess: () => {
      queryClient.setQueryData<Site | null>(keys.site(projectId), (site) => (site ? unpublished(site) : site));
      void queryClient.invalidateQueries({ queryKey: keys.site(projectId) });
    },
  });
}

/** The project's last push (null before the first), asked about while `enabled` (the dialog is open),
 * every 1.5 s while it is under way. */
export function useLastPush(projectId: string, enabled: boolean) {
  return useQuery({
    queryKey: keys.push(projectId),
    enabled,
    queryFn: () =>
      unwrapOrNone(api().GET("/projects/{projectId}/git/push", { params: { path: { projectId } } })),
    refetchInterval: (query) => pushPollInterval(query.state.data),
  });
}

/** Asks for a push. Not a mutation of the query client on purpose: a mutation keeps its variables,
 * and these hold the token, which the client keeps nowhere. Only the answer (no token) is cached. */
export function useStartPush(projectId: string) {
  const queryClient = useQueryClient();
  return useCallback(
    async (request: GitPushInput): Promise<GitPush> => {
      const push = await unwrap(
        api().POST("/projects/{projectId}/git/push", { params: { path: { projectId } }, body: request }),
      );
      queryClient.setQueryData(keys.push(projectId), push);
      return push;
    },
    [queryClient, projectId],
  );
}

function save(blob: Blob, filename: string): void {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = filename;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

/** The zip of a version, saved through the browser (the API answers it, or a link to it). */
export async function downloadVersion(projectId: string, fragmentId: string, name: string): Promise<void> {
  const blob = await unwrap(
    api().GET("/projects/{projectId}/fragments/{fragmentId}/download", {
      params: { path: { projectId, fragmentId } },
      parseAs: "blob",
    }),
  );
  save(blob, `${name}.zip`);
}

/** The project's history as a git bundle, saved as `filename` (the API answers it, or a link to it). */
export async function downloadHistory(projectId: string, filename: string): Promise<void> {
  const blob = await unwrap(
    api().GET("/projects/{projectId}/git", { params: { path: { projectId } }, parseAs: "blob" }),
  );
  save(blob, filename);
}

/** The bytes of an image sent with a message: its URL needs the API's credentials, so an <img>
 * cannot load it itself. */
export function useMessageImage(projectId: string, messageId: string, imageId: string) {
  return useQuery({
    queryKey: keys.image(projectId, messageId, imageId),
    queryFn: () =>
      unwrap(
        api().GET("/projects/{projectId}/messages/{messageId}/images/{imageId}", {
          params: { path: { projectId, messageId, imageId } },
          parseAs: "blob",
        }),
      ),
    staleTime: Infinity,
  });
}
