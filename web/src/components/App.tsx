import { AppShell, Burger, Group, Title } from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import type { Session } from "../auth";
import { openProject, projectHash, useOpenProject } from "../route";
import { CreditsBadge } from "./CreditsBadge";
import { LocalStatusBanner } from "./LocalStatusBanner";
import { NewProjectForm } from "./NewProjectForm";
import { ProjectList } from "./ProjectList";
import { ProjectView } from "./ProjectView";
import { UserMenu } from "./UserMenu";

export function App({ session }: { session: Session }) {
  const projectId = useOpenProject();
  const [navOpen, nav] = useDisclosure(false);
  return (
    <AppShell
      header={{ height: 56 }}
      navbar={{ width: 280, breakpoint: "sm", collapsed: { mobile: !navOpen } }}
      padding="md"
    >
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="sm" wrap="nowrap">
            <Burger opened={navOpen} onClick={nav.toggle} hiddenFrom="sm" size="sm" aria-label="Projects" />
            <Title order={1} size="h3">
              <a href={projectHash(null)} style={{ color: "inherit", textDecoration: "none" }}>
                QAI
              </a>
            </Title>
          </Group>
          <Group gap="sm" wrap="nowrap">
            <CreditsBadge />
            <UserMenu session={session} />
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="sm" aria-label="Your projects">
        <ProjectList current={projectId} onOpen={nav.close} />
      </AppShell.Navbar>
      <AppShell.Main>
        {session.mode === "local" && <LocalStatusBanner />}
        {projectId ? (
          <ProjectView key={projectId} projectId={projectId} />
        ) : (
          <NewProjectForm onCreated={(id) => openProject(id)} />
        )}
      </AppShell.Main>
    </AppShell>
  );
}
