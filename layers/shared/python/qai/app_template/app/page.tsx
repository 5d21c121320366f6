export default function Home() {
  return (
    <main className="flex min-h-screen items-center justify-center p-8">
      <p className="text-muted-foreground">Your app is being built…</p>
    </main>
  );
}
