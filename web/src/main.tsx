import "@mantine/core/styles.css";
import "highlight.js/styles/github.css";
import "./app.css";
import { createTheme, MantineProvider } from "@mantine/core";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { ApiError, connectApi } from "./api/client";
import { startSession } from "./auth";
import { App } from "./components/App";
import { loadConfig } from "./config";

const theme = createTheme({ primaryColor: "violet", defaultRadius: "md" });

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // An answer from the API (404, 409, 429 …) is final; only a lost connection is tried again.
      retry: (failures, error) => error instanceof ApiError && error.status === 0 && failures < 3,
      refetchOnWindowFocus: false,
    },
  },
});

async function start(): Promise<void> {
  const config = await loadConfig();
  const session = await startSession(config.auth);
  if (!session) return; // on its way to the sign-in page
  connectApi(config.apiUrl, session);
  createRoot(document.getElementById("root")!).render(
    <StrictMode>
      <MantineProvider theme={theme}>
        <QueryClientProvider client={queryClient}>
          <App session={session} />
        </QueryClientProvider>
      </MantineProvider>
    </StrictMode>,
  );
}

void start();
