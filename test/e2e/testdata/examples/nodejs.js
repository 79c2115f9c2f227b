const axios = require('axios');

const client = axios.create({
  baseURL: 'https://api.agentauri.ai/api/v1',
  headers: {
    'X-API-Key': process.env.AGENTAURI_API_KEY
  }
});

// List triggers
const triggers = await client.get('/triggers');
console.log(triggers.data);
