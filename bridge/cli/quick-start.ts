/** What `sealroom start` serves besides the API (docs/app.md). */
export interface AppStatus {
  /** The web app is served at `/`. */
  served: boolean;
  /** Dev mode: the app registers its own users in a demo context. */
  devMode: boolean;
  /** Where the media unit binds, when `--media-address` chose it, and whether it takes media from this machine only. */
  media?: { address: string; thisMachineOnly: boolean };
}

/** A line about calls: where the media unit listens and who may reach it. */
function mediaLine(app: AppStatus): string {
  if (app.media === undefined) return '';
  const scope = app.media.thisMachineOnly ? ' and takes media from this machine only' : '';
  return `\n  Calls: the media unit listens on ${app.media.address}${scope}.\n`;
}

/** The lines about the web app, first in both texts: what a newcomer opens. */
export function appLines(url: string, app: AppStatus): string {
  if (!app.served) return '';
  if (!app.devMode) return `\nWeb app: ${url}/  (sign in with a key the operator added; dev mode is off)\n`;
  return `
  Open ${url}/ in two browser windows, pick a name in each, and chat.

  DEV MODE is on: the page registers its users itself in a demo context (only on this machine's
  loopback address). Never for production: start without --dev there.
`;
}

/** The text printed on a start that is not the first (the operator key exists already). */
export function restartNote(url: string, dataDir: string, app: AppStatus): string {
  return `${appLines(url, app)}${mediaLine(app)}\nsealroom Bridge on ${url} (data in ${dataDir}); operator commands need SEALROOM_API_KEY. Stop with Ctrl-C.`;
}

/** The text printed once, on the first start of a new database, with the operator key. `dataDir`: where the data is, as shown. */
export function quickStart(url: string, apiKey: string, dataDir: string, app: AppStatus = { served: false, devMode: false }): string {
  return `${appLines(url, app)}${mediaLine(app)}
sealroom Bridge is running on ${url}  (database in ${dataDir})

Operator API key (shown once; only its hash is stored; save it now):

  export SEALROOM_URL=${url}
  export SEALROOM_API_KEY=${apiKey}

Quick start with curl:

  # 1. a solution and a context
  curl -s -X POST $SEALROOM_URL/manage/v1/solutions \\
       -H "authorization: Bearer $SEALROOM_API_KEY" -H 'content-type: application/json' -d '{"name":"acme"}'
  curl -s -X POST $SEALROOM_URL/manage/v1/solutions/<solutionId>/contexts \\
       -H "authorization: Bearer $SEALROOM_API_KEY" -H 'content-type: application/json' -d '{"name":"support"}'

  # 2. a user: make a key pair, then register the public key
  node bin/sealroom.js keygen
  curl -s -X PUT $SEALROOM_URL/manage/v1/contexts/<contextId>/users/alice \\
       -H "authorization: Bearer $SEALROOM_API_KEY" -H 'content-type: application/json' -d '{"publicKey":"srpk1..."}'

  # 3. connect as alice from an app:
  #    Endpoint.connect('<alice private key srsk1...>', '<solutionId>', '${url}')
  #    or run the whole flow: npx tsx examples/quickstart.ts

The same operator tasks from the CLI: node bin/sealroom.js solution create acme, context create,
user add, api-key create ... (node bin/sealroom.js --help). Stop with Ctrl-C.
`;
}
