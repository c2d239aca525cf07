// Deliberate mistakes: tests/clients requires `tsc --noEmit` to reject each line marked
// `wrong:` here, and nothing else, proving the generated types bite.
import { createStorefrontClient } from "storefront-client";

export async function mistakes(team_id: string, product_id: string): Promise<void> {
  const api = createStorefrontClient({ baseUrl: "http://127.0.0.1:8000" });
  await api.POST("/v1/teams/{team_id}/products", {
    params: { path: { team_id } },
    body: { sku: "TENT-1", name: "Tent", price: 129, currency: "EUR" }, // wrong: price is a decimal string
  });
  await api.GET("/v1/teams/{team_id}/product/{product_id}", { // wrong: no such path
    params: { path: { team_id, product_id } },
  });
  const read = await api.GET("/v1/teams/{team_id}/products/{product_id}", {
    params: { path: { team_id, product_id } },
  });
  if (read.data) {
    const cents: number = read.data.price; // wrong: price is a string
    console.log(cents, read.data.colour); // wrong: Product has no `colour`
  }
}
