// Fixture: a node http server. libuv closes descriptors with
// syscall(SYS_close, fd). Each request reads a file synchronously and one
// asynchronously (both closed by libuv) and keeps one open (the leak).
// argv: FLAG N. Prints "ready pid P" after N requests to itself, then holds
// until FLAG exists.
const http = require('http');
const fs = require('fs');
const flag = process.argv[2];
const n = Number(process.argv[3] || 5);
const kept = [];
const server = http.createServer((req, res) => {
  const text = fs.readFileSync('/etc/hostname', 'utf8');
  fs.readFile('/etc/passwd', () => {});
  kept.push(fs.openSync('/etc/hostname', 'r'));
  res.end(text);
});
server.listen(0, '127.0.0.1', async () => {
  const port = server.address().port;
  for (let i = 0; i < n; i++) {
    await new Promise((ok) => http.get({ port, host: '127.0.0.1', agent: false }, (r) => { r.resume(); r.on('end', ok); }));
  }
  setTimeout(() => {
    process.stdout.write(`ready pid ${process.pid}\n`);
    const t = setInterval(() => { if (fs.existsSync(flag)) { clearInterval(t); server.close(); } }, 50);
  }, 200);
});
