import { Button, Menu, TextInput } from "@mantine/core";
import { IconUser } from "@tabler/icons-react";
import { useState } from "react";
import { type Session, switchLocalUser } from "../auth";
import { projectHash } from "../route";

/** Locally: switch to another user to try isolation (each sees only their own projects). */
export function UserMenu({ session }: { session: Session }) {
  const [name, setName] = useState("");
  const switchTo = (user: string) => {
    switchLocalUser(user);
    window.location.hash = projectHash(null);
    window.location.reload();
  };
  return (
    <Menu position="bottom-end" closeOnItemClick={false}>
      <Menu.Target>
        <Button variant="subtle" leftSection={<IconUser size={16} />} aria-label={`Signed in as ${session.userName}`}>
          {session.userName}
        </Button>
      </Menu.Target>
      <Menu.Dropdown>
        {session.mode === "local" ? (
          <form
            onSubmit={(event) => {
              event.preventDefault();
              if (name.trim()) switchTo(name);
            }}
          >
            <Menu.Label>Local user</Menu.Label>
            <TextInput
              label="Switch to user"
              placeholder="another-user"
              value={name}
              onChange={(event) => setName(event.currentTarget.value)}
              px="sm"
            />
            <Button type="submit" size="xs" m="sm">
              Switch
            </Button>
          </form>
        ) : (
          <Menu.Item onClick={() => void session.signOut?.()}>Sign out</Menu.Item>
        )}
      </Menu.Dropdown>
    </Menu>
  );
}
