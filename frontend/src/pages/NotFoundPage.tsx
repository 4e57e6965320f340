import { Link } from "react-router";

export function NotFoundPage() {
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        This address does not match a page of the dashboard.{" "}
        <Link to="/">Go to the shipments.</Link>
      </p>
    </section>
  );
}
