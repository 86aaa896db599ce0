// A real OpenID Connect provider on loopback standing in for a university IdP in
// computehub's login tests: the npm package oidc-provider (pinned in package.json).
//
// Usage: node oidc_provider.mjs CONFIG.json
//   CONFIG: {"port", "issuer", "client_id", "redirect_uris": [...], "people": {login: claims}}
//   The client secret comes from $OIDC_TEST_CLIENT_SECRET (as a real deployment's would).
// Logins use oidc-provider's development interactions (a login form that takes
// any password); consent is pre-granted for the platform, a first-party client.
// People's claims are read from CONFIG at each request, so a test can change them.
import { readFileSync } from "node:fs";

import Provider from "oidc-provider";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const secret = process.env.OIDC_TEST_CLIENT_SECRET;
if (!secret) {
  console.error("OIDC_TEST_CLIENT_SECRET is not set");
  process.exit(2);
}

const SCOPES = "openid profile email groups eduperson";

const provider = new Provider(config.issuer, {
  clients: [
    {
      client_id: config.client_id,
      client_secret: secret,
      redirect_uris: config.redirect_uris,
      grant_types: ["authorization_code"],
      response_types: ["code"],
    },
  ],
  claims: {
    openid: ["sub"],
    profile: ["name", "preferred_username"],
    email: ["email", "email_verified"],
    groups: ["groups"],
    eduperson: ["eduperson_affiliation"],
  },
  scopes: SCOPES.split(" "),
  cookies: { keys: ["computehub-test-idp-cookie-key"] },
  pkce: { required: () => true },
  async findAccount(_ctx, id) {
    const person = JSON.parse(readFileSync(process.argv[2], "utf8")).people[id];
    if (!person) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...person }) };
  },
  async loadExistingGrant(ctx) {
    const grantId =
      ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(SCOPES);
    await grant.save();
    return grant;
  },
});

provider.listen(config.port, "127.0.0.1", () => {
  console.log(`oidc-provider ready at ${config.issuer}`);
});
