import { NavLink, Route, Routes } from "react-router";
import { CreateShipmentPage } from "./pages/CreateShipmentPage";
import { NotFoundPage } from "./pages/NotFoundPage";
import { ShipmentDetailPage } from "./pages/ShipmentDetailPage";
import { ShipmentListPage } from "./pages/ShipmentListPage";

/** The dashboard's layout and routes; the router itself is supplied by main.tsx (or a test). */
export function App() {
  return (
    <div className="app">
      <header className="topbar">
        <NavLink to="/" className="brand" end>
          <span className="brand-mark" aria-hidden="true">
            Q
          </span>
          QGO Cargo
        </NavLink>
        <nav aria-label="Main">
          <NavLink to="/" end>
            Shipments
          </NavLink>
          <NavLink to="/shipments/new">New shipment</NavLink>
        </nav>
      </header>
      <main className="content">
        <Routes>
          <Route path="/" element={<ShipmentListPage />} />
          <Route path="/shipments/new" element={<CreateShipmentPage />} />
          <Route path="/shipments/:id" element={<ShipmentDetailPage />} />
          <Route path="*" element={<NotFoundPage />} />
        </Routes>
      </main>
    </div>
  );
}
