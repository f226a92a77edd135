// A real OpenID Connect provider for the sign-in tests: panva's oidc-provider (OpenID certified),
// with its own development login and consent pages. Any login name signs in, with any password:
// the account's subject is the name typed; "admin..." names carry the role claim "admin".
//
// Started by tests/pages/oidc_provider.py with OP_PORT, OP_CLIENT_ID, OP_CLIENT_SECRET and
// OP_REDIRECT_URI; prints "listening <issuer>" once it accepts connections.
import Provider from "oidc-provider";

const port = Number(process.env.OP_PORT);
const issuer = `http://127.0.0.1:${port}`;

const configuration = {
  clients: [
    {
      client_id: process.env.OP_CLIENT_ID,
      client_secret: process.env.OP_CLIENT_SECRET,
      redirect_uris: [process.env.OP_REDIRECT_URI],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  // PKCE for every client, S256 only (the provider's default methods).
  pkce: { required: () => true },
  claims: { openid: ["sub"], profile: ["name", "role"] },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ["tests-only-cookie-signing-key"] },
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, name: `Student ${sub}`, role: sub.startsWith("admin") ? "admin" : "student" };
      },
    };
  },
};

const provider = new Provider(issuer, configuration);
provider.on("server_error", (ctx, error) => console.error("server_error", error));
provider.listen(port, "127.0.0.1", () => {
  console.log(`listening ${issuer}`);
});
