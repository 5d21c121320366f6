import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback } from "react";
import { activeRun, isFinished, withNewerEvents } from "../runProgress";
import { api, type MessageMode, type PreviewState, type Run, unwrap } from "./client";

/** Server state through TanStack Query: one key per resource, polling only while something runs. */
export const keys = {
  projects: ["projects"] as const,
  usage: ["usage"] as const,
  messages: (projectId: string) => ["messages", projectId] as const,
  run: (projectId: string, messageId: string) => ["run", projectId, messageId] as const,
  fragment: (projectId: string, fragmentId: string) => ["fragment", projectId, fragmentId] as const,
  preview: (projectId: string, fragmentId: string) => ["preview", projectId, fragmentId] as const,
  diff: (projectId: string, fragmentId: string) => ["diff", projectId, fragmentId] as const,
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
    mutationFn: (value: string) => unwrap(api().POST("/projects", { body: { value } })),
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
    mutationFn: ({ value, mode }: { value: string; mode: MessageMode }) =>
      unwrap(api().POST("/projects/{projectId}/messages", { params: { path: { projectId } }, body: { value, mode } })),
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

/** The zip of a version, saved through the browser (the API answers it, or a link to it). */
export async function downloadVersion(projectId: string, fragmentId: string, name: string): Promise<void> {
  const blob = await unwrap(
    api().GET("/projects/{projectId}/fragments/{fragmentId}/download", {
      params: { path: { projectId, fragmentId } },
      parseAs: "blob",
    }),
  );
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = `${name}.zip`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}
