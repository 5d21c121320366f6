// The way in to a sandbox's dev server: accepts on the listening Unix socket the host passed in
// (its descriptor number is the first argument) and connects each client to 127.0.0.1:<port>
// inside the sandbox's own network namespace. "+" first tells the host that the server answered.
"use strict";
const net = require("net");

const fd = Number(process.argv[2]);
const port = Number(process.argv[3]);

net
  .createServer((client) => {
    client.pause();
    const upstream = net.connect({ host: "127.0.0.1", port });
    upstream.once("connect", () => {
      client.write("+");
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  })
  .listen({ fd });
