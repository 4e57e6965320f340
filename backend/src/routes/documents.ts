// /api/shipments/:id/documents: upload (multipart, field "file") and download.
// Files are stored under UPLOAD_DIR with random names; the client's file name is only metadata.
import { randomUUID } from "node:crypto";
import { open, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { Router, type RequestHandler } from "express";
import multer from "multer";
import type { PrismaClient } from "../db.js";
import { HttpError, notFound } from "../http/errors.js";
import { parseId, serializeDocument } from "./shipments.js";

/** Accepted types, each with the bytes its files start with (the declared type is not trusted). */
export const ALLOWED_TYPES: Record<string, { extension: string; magic: number[][] }> = {
  "application/pdf": { extension: ".pdf", magic: [[0x25, 0x50, 0x44, 0x46, 0x2d]] },
  "image/png": { extension: ".png", magic: [[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]] },
  "image/jpeg": { extension: ".jpg", magic: [[0xff, 0xd8, 0xff]] },
};

const unsupportedType = (declared: string) =>
  new HttpError(
    415,
    "UNSUPPORTED_FILE_TYPE",
    `Files of type ${declared || "unknown"} are not accepted; upload a PDF, PNG or JPEG.`,
    { file: ["must be a PDF, PNG or JPEG file"] },
  );

async function startsWithMagic(path: string, mimeType: string): Promise<boolean> {
  const signatures = ALLOWED_TYPES[mimeType]?.magic ?? [];
  const longest = Math.max(...signatures.map((s) => s.length));
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.alloc(longest);
    const { bytesRead } = await handle.read(buffer, 0, longest, 0);
    return signatures.some(
      (sig) => bytesRead >= sig.length && sig.every((byte, i) => buffer[i] === byte),
    );
  } finally {
    await handle.close();
  }
}

/** Browsers send latin1-decoded UTF-8 file names in multipart headers; recover the real name. */
function decodeFileName(name: string): string {
  const decoded = Buffer.from(name, "latin1").toString("utf8");
  const cleaned = [...(decoded.includes("\uFFFD") ? name : decoded)]
    .map((char) => (char === "/" || char === "\\" || char.charCodeAt(0) < 0x20 ? "_" : char))
    .join("")
    .trim();
  return (cleaned || "document").slice(-255);
}

export function documentsRouter(
  prisma: PrismaClient,
  options: { uploadDir: string; maxUploadBytes: number },
): Router {
  const router = Router({ mergeParams: true });
  const upload = multer({
    storage: multer.diskStorage({
      destination: options.uploadDir,
      filename: (_req, file, done) =>
        done(null, `${randomUUID()}${ALLOWED_TYPES[file.mimetype]?.extension ?? ""}`),
    }),
    limits: { fileSize: options.maxUploadBytes, files: 1, fields: 5 },
    fileFilter: (_req, file, done) => {
      if (file.mimetype in ALLOWED_TYPES) done(null, true);
      else done(unsupportedType(file.mimetype));
    },
  });

  // Checked before the upload is read, so nothing is stored for a shipment that does not exist.
  const shipmentExists: RequestHandler = async (req, _res, next) => {
    const id = parseId((req.params as Record<string, string>).id);
    const shipment = await prisma.shipment.findUnique({ where: { id }, select: { id: true } });
    if (!shipment) throw notFound("Shipment");
    next();
  };

  router.post("/", shipmentExists, upload.single("file"), async (req, res) => {
    const shipmentId = parseId((req.params as Record<string, string>).id);
    const file = req.file;
    if (!file) {
      throw new HttpError(
        400,
        "VALIDATION_FAILED",
        'No file uploaded: send it as multipart field "file".',
        {
          file: ["is required"],
        },
      );
    }
    try {
      if (!(await startsWithMagic(file.path, file.mimetype))) {
        throw new HttpError(
          415,
          "UNSUPPORTED_FILE_TYPE",
          `The file's content is not a ${file.mimetype} file; upload a PDF, PNG or JPEG.`,
          { file: ["content does not match its type"] },
        );
      }
      const document = await prisma.document.create({
        data: {
          shipmentId,
          originalName: decodeFileName(file.originalname),
          storedName: file.filename,
          mimeType: file.mimetype,
          sizeBytes: file.size,
        },
      });
      res.status(201).json(serializeDocument(document));
    } catch (error) {
      await unlink(file.path).catch(() => undefined);
      throw error;
    }
  });

  router.get("/:documentId/download", async (req, res) => {
    const params = req.params as Record<string, string>;
    const shipmentId = parseId(params.id);
    const documentId = parseId(params.documentId, "documentId");
    const document = await prisma.document.findFirst({ where: { id: documentId, shipmentId } });
    if (!document) throw notFound("Document");
    const path = join(options.uploadDir, document.storedName);
    const exists = await stat(path).then(
      (s) => s.isFile(),
      () => false,
    );
    if (!exists)
      throw new HttpError(404, "FILE_MISSING", "The document's file is missing from storage.");
    res.setHeader("X-Content-Type-Options", "nosniff");
    await new Promise<void>((resolve, reject) => {
      res.download(
        path,
        document.originalName,
        { headers: { "Content-Type": document.mimeType } },
        (error) =>
          error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(),
      );
    });
  });

  return router;
}
