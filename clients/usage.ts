// How a frontend uses the generated TypeScript client (`just clients`): sign up, get a token,
// create a team and a product, read it with its ETag, update it with If-Match, list products.
// tests/clients type-checks this file with `tsc --noEmit` against freshly generated types, so
// every path, parameter, body and response field below is checked against the contract.
import { createStorefrontClient, type components } from "storefront-client";

type Product = components["schemas"]["Product"];

const form = (body: Record<string, string>): URLSearchParams => new URLSearchParams(body);

export async function tryIt(baseUrl: string): Promise<Product[]> {
  const api = createStorefrontClient({ baseUrl });

  const signUp = await api.POST("/v1/users", {
    body: { email: "ada@example.com", username: "ada", password: "a-long-password" },
  });
  if (signUp.error) throw new Error(signUp.error.title);
  const userId: string = signUp.data.id;

  const token = await api.POST("/v1/auth/token", {
    body: { grant_type: "password", username: "ada@example.com", password: "a-long-password" },
    bodySerializer: form,
  });
  if (!token.data) throw new Error(`sign-in failed: ${token.error.detail ?? token.error.title}`);
  const auth = { Authorization: `Bearer ${token.data.access_token}` };

  const team = await api.POST("/v1/teams", { body: { name: "Acme" }, headers: auth });
  if (!team.data) throw new Error(team.error.title);
  const team_id: string = team.data.id;

  const created = await api.POST("/v1/teams/{team_id}/products", {
    params: { path: { team_id } },
    body: { sku: "TENT-1", name: "Tent", price: "129.00", currency: "EUR" },
    headers: auth,
  });
  if (!created.data) throw new Error(created.error.title);
  const product_id = created.data.id;

  const read = await api.GET("/v1/teams/{team_id}/products/{product_id}", {
    params: { path: { team_id, product_id } },
    headers: auth,
  });
  if (!read.data) throw new Error(read.error.title);
  const etag = read.response.headers.get("ETag") ?? "";

  const updated = await api.PATCH("/v1/teams/{team_id}/products/{product_id}", {
    params: { path: { team_id, product_id }, header: { "If-Match": etag } },
    body: { price: "119.00", description: null },
    headers: auth,
  });
  if (updated.error) throw new Error(`${updated.error.status}: ${updated.error.title}`);
  const version: number = updated.data.version;

  const page = await api.GET("/v1/teams/{team_id}/products", {
    params: { path: { team_id }, query: { limit: 50, status: "draft" } },
    headers: auth,
  });
  if (!page.data) throw new Error(page.error.title);
  const next: string | null = page.data.next_cursor;
  console.log(userId, version, next);
  return page.data.items;
}
