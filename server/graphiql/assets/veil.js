// Veil's GraphiQL page: everything it loads comes from this server (no CDN), so it works offline
// and under a Content-Security-Policy that allows only 'self'.
(function () {
  'use strict';
  var endpoint = '/graphql';
  var url = location.origin + endpoint;
  var subscriptionUrl = (location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host + endpoint;

  // A token in the URL fragment (/#token=veil_tok_…) fills in the Authorization header. Fragments
  // never reach the server or its logs, and it is removed from the address bar at once.
  var fragment = new URLSearchParams(location.hash.slice(1));
  var token = fragment.get('token');
  if (token) {
    history.replaceState(null, '', location.pathname + location.search);
  }
  var headers = token ? JSON.stringify({ Authorization: 'Bearer ' + token }, null, 2) : undefined;

  // ?query=… opens the page with that document in the editor (links from docs and tests).
  var params = new URLSearchParams(location.search);

  var defaultQuery = [
    '# Welcome to Veil.',
    '#',
    '# Anonymous callers see only public media. To act as a user, open the Headers tab below and',
    '# enter your API token:',
    '#',
    '#   { "Authorization": "Bearer veil_tok_…" }',
    '#',
    '# or open this page as /#token=veil_tok_… and the header is filled in for you. The same',
    '# header authenticates subscriptions (sent in the websocket\'s connection_init).',
    '',
    '{',
    '  me {',
    '    email',
    '  }',
    '}',
    ''
  ].join('\n');

  var fetcher = GraphiQL.createFetcher({ url: url, subscriptionUrl: subscriptionUrl });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultQuery: defaultQuery,
    query: params.get('query') || undefined,
    variables: params.get('variables') || undefined,
    headers: headers,
    defaultEditorToolsVisibility: headers ? 'headers' : undefined,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: true,
    inputValueDeprecation: true
  }));
})();
