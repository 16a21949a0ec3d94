// A graphql-transport-ws client: one websocket for every subscription of the page, the token sent
// in connection_init, subscriptions renewed after a reconnect (with backoff), ping answered.

export class Live extends EventTarget {
  constructor(token) {
    super();
    this.token = token;
    this.subs = new Map();
    this.nextId = 1;
    this.state = 'closed';
    this.attempt = 0;
    this.stopped = false;
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000, 'signed out');
  }

  setState(state, detail) {
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, detail } }));
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  open() {
    const url = (location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host + '/graphql';
    const ws = new WebSocket(url, 'graphql-transport-ws');
    this.ws = ws;
    this.setState('connecting');
    ws.addEventListener('open', () => {
      this.send({ type: 'connection_init', payload: { Authorization: 'Bearer ' + this.token } });
    });
    ws.addEventListener('message', (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch { return; }
      const sub = m.id && this.subs.get(m.id);
      switch (m.type) {
        case 'connection_ack':
          this.attempt = 0;
          this.setState('open');
          for (const [id, s] of this.subs) this.send({ id, type: 'subscribe', payload: s.payload });
          break;
        case 'ping':
          this.send({ type: 'pong' });
          break;
        case 'next':
          if (sub) sub.next(m.payload);
          break;
        case 'error':
          if (sub) sub.error(m.payload);
          break;
        case 'complete':
          // The server ended it (e.g. SUBSCRIBER_TOO_SLOW): subscribe again.
          if (sub) setTimeout(() => { if (this.subs.has(m.id)) this.send({ id: m.id, type: 'subscribe', payload: sub.payload }); }, 1000);
          break;
      }
    });
    ws.addEventListener('close', (ev) => {
      if (this.ws !== ws) return;
      if (this.stopped) return this.setState('closed');
      if (ev.code === 4401 || ev.code === 4403) return this.setState('refused', ev.reason || 'the token was refused');
      const wait = Math.min(30000, 500 * 2 ** this.attempt++);
      this.setState('reconnecting', Math.round(wait / 1000));
      this.timer = setTimeout(() => this.open(), wait);
    });
  }

  /** Subscribes; next(payload) gets every result ({data, errors}). Returns an unsubscribe. */
  subscribe(query, variables, next, error = () => {}) {
    const id = String(this.nextId++);
    const payload = { query, variables };
    this.subs.set(id, { payload, next, error });
    if (this.state === 'open') this.send({ id, type: 'subscribe', payload });
    return () => {
      this.subs.delete(id);
      this.send({ id, type: 'complete' });
    };
  }
}
