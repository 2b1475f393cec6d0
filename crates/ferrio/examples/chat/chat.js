// The classic Socket.IO chat client; `io` comes from /socket.io/socket.io.js, served by Ferrio.
(() => {
  const TYPING_TIMER_MS = 600;
  const COLORS = ["#e21400", "#91580f", "#f8a700", "#f78b00", "#58dc00", "#287b00", "#a8f07a",
    "#4ae8c4", "#3b88eb", "#3824aa", "#a700ff", "#d300e7"];

  const $ = (id) => document.getElementById(id);
  const login = $("login"), chat = $("chat"), messages = $("messages"), typingLine = $("typing");
  const nicknameInput = $("nickname"), input = $("input"), online = $("online"), status = $("status");

  const socket = io();
  let username = null;
  let typing = false;
  let lastTypingTime = 0;
  const typists = new Set();

  const colorOf = (name) => {
    let hash = 7;
    for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
    return COLORS[hash % COLORS.length];
  };

  const scroll = () => { messages.scrollTop = messages.scrollHeight; };

  const log = (text) => {
    const li = document.createElement("li");
    li.className = "log";
    li.textContent = text;
    messages.append(li);
    scroll();
  };

  const addMessage = ({ username: who, message }, mine = false) => {
    const li = document.createElement("li");
    li.className = mine ? "msg mine" : "msg";
    const name = document.createElement("span");
    name.className = "who";
    name.style.color = colorOf(who);
    name.textContent = who;
    const body = document.createElement("span");
    body.className = "body";
    body.textContent = message;
    li.append(name, body);
    messages.append(li);
    scroll();
  };

  const setOnline = (n) => {
    online.hidden = false;
    online.textContent = `${n} online`;
  };

  const renderTyping = () => {
    const names = [...typists];
    typingLine.textContent =
      names.length === 0 ? "" :
      names.length === 1 ? `${names[0]} is typing…` :
      `${names.slice(0, -1).join(", ")} and ${names.at(-1)} are typing…`;
  };

  const stopTyping = () => {
    if (typing) socket.emit("stop typing");
    typing = false;
  };

  // ---- the page ---------------------------------------------------------------------------

  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const name = nicknameInput.value.trim();
    if (!name) return;
    username = name;
    login.hidden = true;
    chat.hidden = false;
    input.focus();
    socket.emit("add user", username);
  });

  $("send-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const message = input.value.trim();
    if (!message || !username) return;
    input.value = "";
    addMessage({ username, message }, true);
    socket.emit("new message", message);
    stopTyping();
  });

  input.addEventListener("input", () => {
    if (!username || !socket.connected) return;
    if (!typing) {
      typing = true;
      socket.emit("typing");
    }
    lastTypingTime = Date.now();
    setTimeout(() => {
      if (typing && Date.now() - lastTypingTime >= TYPING_TIMER_MS) stopTyping();
    }, TYPING_TIMER_MS);
  });

  // ---- the server ---------------------------------------------------------------------------

  socket.on("connect", () => {
    status.textContent = "connected";
    status.className = "status ok";
  });

  socket.on("disconnect", () => {
    status.textContent = "disconnected";
    status.className = "status down";
    if (username) log("you have been disconnected");
  });

  socket.io.on("reconnect", () => {
    if (username) {
      log("you have been reconnected");
      socket.emit("add user", username);
    }
  });

  socket.on("login", ({ numUsers }) => {
    log("Welcome to Ferrio chat");
    log(numUsers === 1 ? "you are the only one here" : `there are ${numUsers} participants`);
    setOnline(numUsers);
  });

  socket.on("new message", (data) => {
    typists.delete(data.username);
    renderTyping();
    addMessage(data);
  });

  socket.on("user joined", ({ username: who, numUsers }) => {
    log(`${who} joined`);
    setOnline(numUsers);
  });

  socket.on("user left", ({ username: who, numUsers }) => {
    log(`${who} left`);
    setOnline(numUsers);
    typists.delete(who);
    renderTyping();
  });

  socket.on("typing", ({ username: who }) => {
    typists.add(who);
    renderTyping();
  });

  socket.on("stop typing", ({ username: who }) => {
    typists.delete(who);
    renderTyping();
  });
})();
